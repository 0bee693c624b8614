"""Where exported Bitrix24 rows go: SQL tables through a staging table (atomic replace, append,
merge), Parquet/CSV files and DataFrame callables, with the incremental watermark and the resume
checkpoints. Nothing here imports Airflow; the operators pass in what the task context holds.

Modules: :mod:`.identifiers` (safe names), :mod:`.columns` (types from ``.fields``),
:mod:`.dialects` and :mod:`.database` (SQL per database, real transactions), :mod:`.sql_sink`,
:mod:`.file_sink`, :mod:`.frame_sink` (destinations), :mod:`.sync_state` (watermark and resume
tables), :mod:`.checkpoint`, :mod:`.incremental`, :mod:`.export` (the page loop),
:mod:`.get_all_job` (one operator run), :mod:`.call_results`, :mod:`.failures`.
"""
