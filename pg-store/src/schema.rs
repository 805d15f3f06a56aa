//! The tables, created and upgraded by the store itself.
//!
//! `ih_schema_version` lists every migration applied (version, when, what).
//! Opening a store for writing applies the missing migrations in one
//! transaction under a transaction-level advisory lock, so concurrent first
//! openers (many writers starting at once on a fresh database) wait for one
//! another and each migration runs exactly once. A database whose schema is
//! newer than this program is refused rather than misread.
//!
//! Version 1:
//! ```sql
//! ih_histories (history_id bigint identity PRIMARY KEY, name text UNIQUE,
//!               record_count bigint, last_iteration bigint NULL,
//!               trailer text, created_at timestamptz)
//! ih_records   (history_id bigint REFERENCES ih_histories ON DELETE CASCADE,
//!               seq bigint, iteration_num bigint, line text, record jsonb,
//!               saved_at timestamptz,
//!               PRIMARY KEY (history_id, seq),
//!               UNIQUE (history_id, iteration_num))
//! ```
//! plus the function `ih_append` (compare-and-append in one round trip).
//!
//! Version 2: the procedure `ih_append_next` (an append numbered by the
//! store, in one round trip: see [`Store::append_next`](iteration_history::Store::append_next)).
//! The client cannot know the number before the server gives it, and each
//! line carries its number and a checksum over it; so the client sends
//! each line once without its number and a window of checksums, one per
//! candidate first number (`p_guess`, `p_guess + 1`, ...). Under the
//! history's write lock the function takes the last iteration + 1, builds
//! the lines for it and inserts them; if that number is outside the window
//! it writes nothing and returns the last iteration, and the client tries
//! again with a window that starts there. The insert commits
//! asynchronously (the lock is released before the WAL flush, so concurrent
//! writers are not serialised on the disk); the procedure then commits a
//! second, synchronous transaction, whose flush covers the first, and only
//! then returns: a save is acknowledged only once it is durable.
//!
//! Version 3: `ih_append_next` does less per call (it is the hot path of
//! many writers on one history, which are CPU-bound on the server): the
//! `jsonb` copy is parsed once, from the numbered line without its `_ih`
//! member (`head || number || rest || '}'`), instead of being parsed
//! before the lock and then edited (`- '_ih'`, `|| iteration_num`); one
//! record is inserted with `VALUES`; few PL/pgSQL expressions (each is set
//! up again in every transaction), assignments rather than `PERFORM`. A new
//! argument `p_alone` (the caller met no other writer in its last saves)
//! makes it commit in one synchronous transaction, holding the lock through
//! the flush, instead of two.
//!
//! One row per record: `seq` is its position (1, 2, ...), `line` the exact
//! bytes it occupies in the JSONL export (blank lines before it and its
//! line end included), `record` the same record as `jsonb` for queries
//! (without the `_ih` checksum field; non-finite numbers are `null` there
//! and listed in `_nonfinite`). `ih_histories` holds one row per history:
//! the row that compare-and-append locks, with the count and the last
//! iteration so that both are read in constant time.
//!
//! Writes to one history are serialised by a transaction-level advisory
//! lock, `pg_advisory_xact_lock(26984, history_id)`, which writes nothing
//! to the write-ahead log (a writer that loses a compare-and-append waits
//! for no disk flush); `ih_append` takes it, reads the history's
//! row (a fresh snapshot after the lock, under READ COMMITTED, which the
//! store sets for its sessions), compares the last iteration and inserts,
//! all in one statement.

use postgres::GenericClient;

/// The schema version this program writes.
pub(crate) const LATEST: i32 = 3;

/// Key of the advisory lock that serialises migrations ("ihschema").
const MIGRATION_LOCK: i64 = 0x6968_7363_6865_6d61;

/// (version, description, SQL).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "histories and records",
    "CREATE TABLE ih_histories (
        history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE,
        record_count bigint NOT NULL DEFAULT 0,
        last_iteration bigint,
        trailer text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE ih_records (
        history_id bigint NOT NULL REFERENCES ih_histories (history_id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        iteration_num bigint NOT NULL,
        line text NOT NULL,
        record jsonb NOT NULL,
        saved_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (history_id, seq),
        CONSTRAINT ih_records_unique_iteration UNIQUE (history_id, iteration_num)
    );
    COMMENT ON TABLE ih_records IS 'iteration-history: one row per record; line = exact JSONL bytes, record = the same as jsonb';
    CREATE FUNCTION ih_append(p_history bigint, p_check boolean, p_expected bigint,
                              p_nums bigint[], p_lines text[], p_json text[],
                              OUT o_appended boolean, OUT o_present boolean, OUT o_last bigint)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
        h ih_histories%ROWTYPE;
        n integer := coalesce(array_length(p_nums, 1), 0);
    BEGIN
        PERFORM pg_advisory_xact_lock(26984, (p_history % 2147483647)::integer);
        SELECT * INTO h FROM ih_histories WHERE history_id = p_history;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'iteration-history: history % does not exist', p_history USING ERRCODE = 'no_data_found';
        END IF;
        IF p_check AND h.last_iteration IS DISTINCT FROM p_expected THEN
            -- A retry of a commit that went through: the history ends with
            -- exactly these lines (the first may follow blank lines).
            o_appended := false;
            o_last := h.last_iteration;
            o_present := false;
            IF n > 0 AND h.last_iteration = p_nums[n] THEN
                SELECT count(*) = n AND bool_and(right(r.line, length(t.line)) = t.line) INTO o_present
                FROM (SELECT line, row_number() OVER (ORDER BY seq DESC) AS k FROM ih_records
                      WHERE history_id = p_history ORDER BY seq DESC LIMIT n) r
                JOIN unnest(p_lines) WITH ORDINALITY AS t(line, ord) ON r.k = n - t.ord + 1;
                o_present := coalesce(o_present, false);
            END IF;
            RETURN;
        END IF;
        IF n > 0 THEN
            INSERT INTO ih_records (history_id, seq, iteration_num, line, record)
            SELECT p_history, h.record_count + t.ord, t.num,
                   CASE WHEN t.ord = 1 THEN h.trailer || t.line ELSE t.line END,
                   coalesce(t.js, t.line)::jsonb - '_ih'
            FROM unnest(p_nums, p_lines, p_json) WITH ORDINALITY AS t(num, line, js, ord);
            UPDATE ih_histories
            SET record_count = h.record_count + n, last_iteration = p_nums[n], trailer = ''
            WHERE history_id = p_history;
        END IF;
        o_appended := true;
        o_present := false;
        o_last := CASE WHEN n > 0 THEN p_nums[n] ELSE h.last_iteration END;
    END
    $fn$;",
    ),
    (
        2,
        "appends numbered by the store",
        "CREATE PROCEDURE ih_append_next(p_history bigint, p_guess bigint, p_window integer,
                                    p_heads text[], p_rests text[], p_tails text[], p_json text[],
                                    INOUT o_first bigint DEFAULT NULL, INOUT o_last bigint DEFAULT NULL)
    LANGUAGE plpgsql AS $fn$
    DECLARE
        h ih_histories%ROWTYPE;
        n integer := coalesce(array_length(p_heads, 1), 0);
        nxt bigint;
        j bigint;
        sync_setting text := current_setting('synchronous_commit');
        docs jsonb[];
    BEGIN
        -- The jsonb copies are parsed before the lock is taken (from the
        -- first candidate's lines; the number is set below).
        SELECT array_agg((coalesce(t.js, t.head || p_guess::text || t.rest || p_tails[t.ord]))::jsonb - '_ih' ORDER BY t.ord)
        INTO docs
        FROM unnest(p_heads, p_rests, p_json) WITH ORDINALITY AS t(head, rest, js, ord);
        -- The insert commits without waiting for the disk, so the history's
        -- lock is held only while the rows are written, not during the WAL
        -- flush; the flush is waited for below, before the call returns.
        PERFORM set_config('synchronous_commit', 'off', true);
        PERFORM pg_advisory_xact_lock(26984, (p_history % 2147483647)::integer);
        SELECT * INTO h FROM ih_histories WHERE history_id = p_history;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'iteration-history: history % does not exist', p_history USING ERRCODE = 'no_data_found';
        END IF;
        nxt := coalesce(h.last_iteration + 1, 0);
        o_last := h.last_iteration;
        j := nxt - p_guess;
        IF n = 0 THEN
            o_first := nxt;
            RETURN;
        END IF;
        IF j < 0 OR j >= p_window THEN
            o_first := NULL;
            RETURN;
        END IF;
        INSERT INTO ih_records (history_id, seq, iteration_num, line, record)
        SELECT p_history, h.record_count + t.ord, nxt + t.ord - 1, l.line,
               docs[t.ord] || jsonb_build_object('iteration_num', nxt + t.ord - 1)
        FROM unnest(p_heads, p_rests) WITH ORDINALITY AS t(head, rest, ord),
             LATERAL (SELECT CASE WHEN t.ord = 1 THEN h.trailer ELSE '' END || t.head || (nxt + t.ord - 1)::text
                             || t.rest || p_tails[j * n + t.ord] AS line) l;
        UPDATE ih_histories
        SET record_count = h.record_count + n, last_iteration = nxt + n - 1, trailer = ''
        WHERE history_id = p_history;
        o_first := nxt;
        o_last := nxt + n - 1;
        COMMIT;
        -- A transaction that writes WAL commits with the session's
        -- synchronous_commit (on by default): its commit waits until the
        -- WAL up to its commit record, which includes the insert's, is on
        -- disk (or replicated, as the server is configured). Concurrent
        -- callers share these flushes (group commit). (A transaction that
        -- only took an id would not wait: PostgreSQL flushes at commit only
        -- if the transaction wrote WAL.) A transactional logical message is
        -- the smallest such write; it needs no privilege and no table.
        -- The setting made for the insert's transaction would last.
        PERFORM set_config('synchronous_commit', sync_setting, true);
        PERFORM pg_logical_emit_message(true, 'iteration-history', '');
        COMMIT;
    END
    $fn$;",
    ),
    (
        3,
        "numbered appends with less work per call, in one transaction for a lone writer",
        "DROP PROCEDURE ih_append_next(bigint, bigint, integer, text[], text[], text[], text[], bigint, bigint);
    CREATE PROCEDURE ih_append_next(p_history bigint, p_guess bigint, p_window integer, p_alone boolean,
                                    p_heads text[], p_rests text[], p_tails text[], p_json text[],
                                    INOUT o_first bigint DEFAULT NULL, INOUT o_last bigint DEFAULT NULL)
    LANGUAGE plpgsql AS $fn$
    DECLARE
        cnt bigint;
        tr text;
        nxt bigint;
        j bigint;
        n integer := coalesce(array_length(p_heads, 1), 0);
        sync_setting text;
        ignored text;
    BEGIN
        -- Few plpgsql expressions: each is set up again in every
        -- transaction. Assignments rather than PERFORM: no query of their own.
        -- p_alone: the caller met no other writer in its last saves; one
        -- synchronous transaction then does (see the end). Otherwise the
        -- insert commits without waiting for the disk, so the history's lock
        -- is held only while the rows are written, not during the WAL flush;
        -- the flush is waited for below, before the call returns.
        IF p_alone THEN
            ignored := pg_advisory_xact_lock(26984, (p_history % 2147483647)::integer);
        ELSE
            sync_setting := current_setting('synchronous_commit');
            ignored := set_config('synchronous_commit', 'off', true);
            ignored := pg_advisory_xact_lock(26984, (p_history % 2147483647)::integer);
        END IF;
        -- The history's row, read under the lock; the next number and the
        -- window offset with it.
        SELECT record_count, trailer, last_iteration, coalesce(last_iteration + 1, 0),
               coalesce(last_iteration + 1, 0) - p_guess
        INTO cnt, tr, o_last, nxt, j FROM ih_histories WHERE history_id = p_history;
        IF n = 0 OR j IS NULL OR j < 0 OR j >= p_window THEN
            IF NOT FOUND THEN
                RAISE EXCEPTION 'iteration-history: history % does not exist', p_history USING ERRCODE = 'no_data_found';
            END IF;
            -- Nothing to write, or the number is outside the window: the
            -- caller tries again from o_last.
            o_first := CASE WHEN n = 0 THEN nxt END;
            RETURN;
        END IF;
        -- A line is head || number || rest || tail, its tail starting with
        -- the `_ih` member: head || number || rest || '}' is the record
        -- without `_ih`, the jsonb copy (p_json, when given, is the copy for
        -- the first candidate number, with `_ih`).
        IF n = 1 AND p_json[1] IS NULL THEN
            INSERT INTO ih_records (history_id, seq, iteration_num, line, record)
            VALUES (p_history, cnt + 1, nxt,
                    tr || p_heads[1] || nxt::text || p_rests[1] || p_tails[j + 1],
                    (p_heads[1] || nxt::text || p_rests[1] || '}')::jsonb)
            RETURNING iteration_num, iteration_num INTO o_first, o_last;
        ELSE
            INSERT INTO ih_records (history_id, seq, iteration_num, line, record)
            SELECT p_history, cnt + t.ord, nxt + t.ord - 1,
                   CASE WHEN t.ord = 1 THEN tr ELSE '' END || t.head || (nxt + t.ord - 1)::text
                       || t.rest || p_tails[j * n + t.ord],
                   CASE WHEN t.js IS NULL THEN (t.head || (nxt + t.ord - 1)::text || t.rest || '}')::jsonb
                        ELSE (t.js::jsonb - '_ih') || jsonb_build_object('iteration_num', nxt + t.ord - 1) END
            FROM unnest(p_heads, p_rests, p_json) WITH ORDINALITY AS t(head, rest, js, ord);
            o_first := nxt;
            o_last := nxt + n - 1;
        END IF;
        UPDATE ih_histories
        SET record_count = cnt + n, last_iteration = o_last, trailer = ''
        WHERE history_id = p_history;
        IF p_alone THEN
            -- One transaction, committed synchronously when the call
            -- returns: the lock is held through the WAL flush, which costs
            -- only a writer that arrives meanwhile (it waits one flush; its
            -- caller then no longer passes p_alone).
            RETURN;
        END IF;
        COMMIT;
        -- The second transaction's synchronous commit waits until the WAL up
        -- to its commit record, which includes the insert's, is on disk (see
        -- version 2).
        ignored := set_config('synchronous_commit', sync_setting, true);
        ignored := pg_logical_emit_message(true, 'iteration-history', '');
        COMMIT;
    END
    $fn$;",
    ),
];

/// The SQL of migration `version`, as applied by [`migrate`] (for tests
/// that build a database of an older version and upgrade it).
#[doc(hidden)]
pub fn migration_sql(version: i32) -> Option<&'static str> {
    MIGRATIONS.iter().find(|(v, _, _)| *v == version).map(|(_, _, sql)| *sql)
}

/// Takes the history's write lock for the rest of the transaction: the
/// transaction-level advisory lock that `ih_append` takes. Every write
/// (append, clear, import) holds it, so writes to one history are
/// serialised while readers are never blocked. An advisory lock writes
/// nothing to the WAL: a writer that loses a compare-and-append commits
/// nothing and waits for no disk flush.
pub(crate) const SQL_WRITE_LOCK: &str = "SELECT pg_advisory_xact_lock(26984, ($1::bigint % 2147483647)::integer)";

/// What [`current`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No `ih_schema_version` table: a fresh database.
    None,
    /// The highest version applied.
    Version(i32),
}

/// The schema version in the database (no lock, changes nothing).
pub(crate) fn current(c: &mut impl GenericClient) -> Result<Found, postgres::Error> {
    let exists: bool = c.query_one("SELECT to_regclass('ih_schema_version') IS NOT NULL", &[])?.get(0);
    if !exists {
        return Ok(Found::None);
    }
    let v: Option<i32> = c.query_one("SELECT max(version) FROM ih_schema_version", &[])?.get(0);
    Ok(v.map_or(Found::None, Found::Version))
}

/// Applies every missing migration; returns the version now in force.
pub(crate) fn migrate(client: &mut postgres::Client) -> Result<i32, postgres::Error> {
    if let Found::Version(v) = current(client)?
        && v >= LATEST
    {
        return Ok(v);
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS ih_schema_version (
            version integer PRIMARY KEY,
            description text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let applied: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM ih_schema_version", &[])?.get(0);
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > applied) {
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO ih_schema_version (version, description) VALUES ($1, $2)", &[version, description])?;
    }
    tx.commit()?;
    Ok(applied.max(LATEST))
}
