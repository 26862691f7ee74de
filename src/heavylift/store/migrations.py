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
        "003_gateway_files_batches",
        """
        -- The gateway's OpenAI Files and Batch API (heavylift serve, heavylift run-batch). A file's bytes
        -- live under the data directory by id (files/<id>); a batch runs as a job whose units are its
        -- requests (one unit per input line), so it is durable the way analyze jobs are.
        CREATE TABLE files (
            id TEXT PRIMARY KEY,                     -- file-<random>; the only name used on disk
            filename TEXT NOT NULL,                  -- as uploaded (display only, never a path)
            purpose TEXT NOT NULL,                   -- batch | batch_output
            bytes INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            created_at INTEGER NOT NULL,             -- unix seconds
            expires_at INTEGER
        );
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,                     -- batch_<random>
            origin TEXT NOT NULL DEFAULT 'api',      -- api | run-batch
            endpoint TEXT NOT NULL,                  -- /v1/chat/completions | /v1/completions
            input_file_id TEXT NOT NULL,
            completion_window TEXT NOT NULL,
            status TEXT NOT NULL,                    -- OpenAI's: validating in_progress finalizing completed failed expired cancelling cancelled
            metadata TEXT,                           -- JSON object
            errors TEXT,                             -- JSON list of {code, message, param, line} (validation)
            job_id INTEGER REFERENCES jobs(id),      -- the job whose units are the requests
            model TEXT,
            output_file_id TEXT,
            error_file_id TEXT,
            num_requests INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            in_progress_at INTEGER,
            expires_at INTEGER,
            finalizing_at INTEGER,
            completed_at INTEGER,
            failed_at INTEGER,
            expired_at INTEGER,
            cancelling_at INTEGER,
            cancelled_at INTEGER
        );
        CREATE INDEX batches_status ON batches(status);
        CREATE TABLE batch_requests (
            unit_id INTEGER PRIMARY KEY REFERENCES units(id) ON DELETE CASCADE,
            batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
            line INTEGER NOT NULL,                   -- 1-based line in the input file
            custom_id TEXT NOT NULL,
            body TEXT NOT NULL,                      -- the request body as given (JSON)
            UNIQUE (batch_id, custom_id)
        );
        CREATE INDEX batch_requests_line ON batch_requests(batch_id, line);
        """,
    ),
    (
        "004_verify_runs",
        """
        CREATE TABLE verify_runs (                   -- heavylift verify: two analysis jobs compared
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            config TEXT NOT NULL,                    -- JSON VerifyConfig
            fingerprint TEXT NOT NULL,               -- the inputs; the same name with other inputs is refused
            candidate_job_id INTEGER REFERENCES jobs(id),
            reference_job_id INTEGER REFERENCES jobs(id),
            candidate_key TEXT,                      -- what a side's answers depend on; an equal key reuses the job
            reference_key TEXT,
            kld TEXT,                                -- JSON KLDResult, once computed
            report TEXT,                             -- JSON VerifyReport, the last one
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
            finished_at TEXT
        );
        CREATE INDEX verify_runs_candidate_key ON verify_runs(candidate_key);
        CREATE INDEX verify_runs_reference_key ON verify_runs(reference_key);
        """,
    ),
]
