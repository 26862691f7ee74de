"""Named, forward-only schema migrations. Append new ones; never edit or reorder applied ones."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_models",
        """
        CREATE TABLE models (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,          -- first (or only) part of the GGUF
            is_copy INTEGER NOT NULL,    -- 1: heavylift owns the file; 0: the user's file, referenced
            file_bytes INTEGER NOT NULL,
            source TEXT NOT NULL,        -- where it came from (a path, or a PyPI wheel and its sha256)
            added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        );
        """,
    ),
    (
        "002_jobs",
        """
        -- Batch analysis (heavylift analyze). A job holds its inputs, the prompt subjects made from
        -- them (a document, several together, or one chunk of a split document) and its units
        -- (subject x task). A unit becomes 'done' only in the transaction that stores its answer.
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL DEFAULT 'pending',  -- pending | running | done | failed | cancelled
            config TEXT NOT NULL,                    -- JSON: tasks, model or endpoint, parallel, ctx ...
            error TEXT,
            pid INTEGER,                             -- the heavylift process running it
            engine_pid INTEGER,                      -- the llama-server it started (to clean up after a kill)
            run_started_at REAL,                     -- unix time the current/last run began
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            finished_at TEXT
        );
        CREATE TABLE job_documents (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            path TEXT NOT NULL,
            name TEXT,
            kind TEXT,
            sha256 TEXT,                             -- content hash; NULL when ingestion failed
            num_chars INTEGER,
            num_pages INTEGER,
            pages TEXT,                              -- JSON [[page, first_char], ...] (PDF provenance)
            error TEXT                               -- why it was not analysed (per-document error)
        );
        CREATE TABLE subjects (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            body TEXT NOT NULL,                      -- the delimited text put in the prompt, byte-identical per task
            body_sha256 TEXT NOT NULL,
            document_ids TEXT NOT NULL,              -- JSON list of job_documents ids it is made of
            parent_id INTEGER REFERENCES subjects(id),   -- set for a chunk of a --split document
            chunk_index INTEGER,
            num_chunks INTEGER,
            num_prompt_tokens INTEGER,               -- measured with the engine's /tokenize
            error TEXT                               -- e.g. too long for the context
        );
        CREATE TABLE units (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            subject_id INTEGER NOT NULL REFERENCES subjects(id),
            position INTEGER NOT NULL,
            task TEXT NOT NULL,                      -- question | summarize | extract | classify
            question TEXT,
            role TEXT NOT NULL DEFAULT 'answer',     -- answer | map (one chunk, --split) | reduce
            status TEXT NOT NULL DEFAULT 'pending',  -- pending | running | done | failed | cancelled
            attempts INTEGER NOT NULL DEFAULT 0,
            answer TEXT,                             -- JSON-encoded (a string, or the extracted object)
            raw_text TEXT,
            error TEXT,
            prompt_tokens INTEGER,
            cached_tokens INTEGER,
            completion_tokens INTEGER,
            prefill_ms REAL,
            decode_ms REAL,
            is_kv_restored INTEGER,                  -- the prefix came from a saved KV file
            slot_id INTEGER,
            model TEXT,
            quantization TEXT,
            engine_version TEXT,
            finished_at REAL
        );
        CREATE INDEX units_job_status ON units(job_id, status);
        CREATE TABLE unit_attempts (                 -- one row per request sent for a unit
            id INTEGER PRIMARY KEY,
            unit_id INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            outcome TEXT,                            -- done | invalid | engine-error | too-long | interrupted
            error TEXT
        );
        CREATE INDEX unit_attempts_unit ON unit_attempts(unit_id);
        """,
    ),
    (
        "003_bench_runs",
        """
        -- heavylift bench: the machine measured once per hardware fingerprint, each run with what it ran
        -- on, and one row per measured configuration (written as soon as it is measured, so a run that
        -- stops part-way keeps what it has).
        CREATE TABLE bench_machines (
            fingerprint TEXT PRIMARY KEY,
            info TEXT NOT NULL,                      -- JSON MachineInfo (triad bandwidth, cores, SIMD, peak)
            measured_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        );
        CREATE TABLE bench_runs (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'running',  -- running | done | partial | failed
            fingerprint TEXT NOT NULL,               -- hardware fingerprint (bench_machines)
            machine TEXT NOT NULL,                   -- JSON MachineInfo as it was for this run
            target TEXT NOT NULL,                    -- the model name given, or the endpoint URL
            model TEXT,                              -- model file name, or the endpoint's model id
            quant TEXT,
            engine TEXT,                             -- llama-server | remote
            engine_version TEXT,
            engine_backend TEXT,
            engine_args TEXT,                        -- JSON list: the flags the engine ran with
            placement TEXT,                          -- JSON: -ngl / --n-cpu-moe / tensor split, devices
            settings TEXT NOT NULL,                  -- JSON BenchSettings
            configs TEXT NOT NULL,                   -- JSON list of the configuration labels planned
            missing TEXT,                            -- JSON {label: why} for configurations not measured
            power TEXT,                              -- JSON PowerReading (busy and idle), when readable
            llama_bench TEXT,                        -- JSON: llama-bench command and flags left out
            notes TEXT,                              -- JSON list of notes
            pid INTEGER,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            finished_at TEXT
        );
        CREATE TABLE bench_results (
            run_id INTEGER NOT NULL REFERENCES bench_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            label TEXT NOT NULL,                     -- p512/d0/c1
            result TEXT NOT NULL,                    -- JSON ConfigResult
            PRIMARY KEY (run_id, position)
        );
        """,
    ),
]
