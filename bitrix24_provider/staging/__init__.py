"""The destinations of a load: SQL tables through a staging table (atomic replace, append, merge),
Parquet/CSV files and DataFrame callables, with the incremental watermark table and the resume
table. They receive pages of rows and never import the client or the engine
(:mod:`bitrix24_provider.sync`, which drives them); nothing here imports an orchestrator.

Modules: :mod:`.identifiers` (safe names), :mod:`.columns` (column kinds and value conversion),
:mod:`.dialects` and :mod:`.database` (SQL per database, real transactions), :mod:`.sink` (the
destination protocol, progress, staging position), :mod:`.sql_sink`, :mod:`.file_sink`,
:mod:`.frame_sink` and :mod:`.frames` (destinations), :mod:`.sync_state` (watermark and resume
tables), :mod:`.watermark` (watermark times), :mod:`.errors`.
"""
