"""The pinned fast_bitrix24 suite and its harness run only in the subprocess that
``test_fast_bitrix24_suite.py`` starts, never in this session."""

collect_ignore = ["fast_bitrix24_suite", "harness"]
