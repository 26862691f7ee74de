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
        "003_analyze_states_kv",
        """
        -- Inputs not analysed get their own status (skipped: unreadable or empty; duplicate: the same
        -- content as duplicate_of); NULL means analysed. Legacy rows with an error read as skipped.
        ALTER TABLE job_documents ADD COLUMN status TEXT;
        ALTER TABLE job_documents ADD COLUMN duplicate_of TEXT;
        -- Tokens of the prompt before the task's own words (system + document): the part the
        -- engine can reuse from its cache; an answer reused it fully when cached_tokens >= this.
        ALTER TABLE subjects ADD COLUMN num_prefix_tokens INTEGER;
        ALTER TABLE units ADD COLUMN finish_reason TEXT;   -- stop | length (cut at max_tokens)
        -- What the planner predicts for this model on this machine (NULL: unknown, e.g. an endpoint),
        -- shown while a long first prefill runs.
        ALTER TABLE jobs ADD COLUMN predicted_prefill_tps REAL;
        -- Saved KV-cache files (llama-server slot saves) analyze wrote, for the size cap (least
        -- recently used go first) and `heavylift kv list|clean`.
        CREATE TABLE kv_files (
            name TEXT PRIMARY KEY,               -- file name in the kv-slots folder
            num_bytes INTEGER NOT NULL,
            num_tokens INTEGER,
            model TEXT,
            architecture TEXT,
            created_at REAL NOT NULL,
            last_used_at REAL NOT NULL
        );
        -- Architectures whose restored KV was not reused by an engine build (hybrid/recurrent or
        -- sliding-window memory): analyze stops saving for them on that build.
        CREATE TABLE kv_unrestorable (
            architecture TEXT NOT NULL,
            engine_version TEXT NOT NULL,
            reason TEXT NOT NULL,
            noted_at REAL NOT NULL,
            PRIMARY KEY (architecture, engine_version)
        );
        """,
    ),
]
