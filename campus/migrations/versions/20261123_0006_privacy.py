"""Privacy: audit log, field encryption, consent, erasure.

Revision ID: 20261123_0006_privacy
Revises: 20261123_0005_zones
Create Date: 2026-11-23
"""

from alembic import op

revision = "20261123_0006"
down_revision = "20261123_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
    -- Which master key wrapped each badge key (privacy.keyring.key_id); NULL
    -- for keys wrapped before ids were recorded (readers then try every key).
    ALTER TABLE badges ADD COLUMN eid_key_master_id text;
    CREATE INDEX badges_master_key ON badges (eid_key_master_id) WHERE eid_key_wrapped IS NOT NULL;

    -- A leaver's row stays as the pseudonymous anchor of records kept by law.
    ALTER TABLE students ADD COLUMN erased_at timestamptz;

    -- Purposes a school adds need a lawful basis from UK GDPR Art. 6(1) and a name the CLI can type.
    ALTER TABLE consent_purposes
        ADD CONSTRAINT consent_purposes_lawful_basis CHECK (lawful_basis IN
            ('consent', 'contract', 'legal_obligation', 'vital_interests', 'public_task', 'legitimate_interests')),
        ADD CONSTRAINT consent_purposes_name CHECK (purpose ~ '^[a-z][a-z0-9_]{1,47}$'),
        ADD CONSTRAINT consent_purposes_description CHECK (length(description) BETWEEN 10 AND 1000),
        ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

    -- Envelope encryption: one random data key per student, stored only
    -- wrapped by the master key. Deleting the row is crypto-shredding.
    CREATE TABLE student_data_keys (
        student_id    uuid PRIMARY KEY REFERENCES students ON DELETE CASCADE,
        wrapped       bytea NOT NULL,
        master_key_id text NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        rewrapped_at  timestamptz
    );
    CREATE INDEX student_data_keys_master ON student_data_keys (master_key_id);

    -- Personal fields, each AES-GCM encrypted under the student's data key
    -- and bound to (student, field) as associated data.
    CREATE TABLE student_personal (
        student_id  uuid NOT NULL REFERENCES students ON DELETE CASCADE,
        field       text NOT NULL CHECK (field IN ('full_name', 'date_of_birth', 'guardians')),
        ciphertext  bytea NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (student_id, field)
    );

    -- Second erasure passes after a withdrawal (privacy.erasure.run_pending_erasures).
    CREATE TABLE pending_erasures (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        student_key  bigint NOT NULL,
        purpose      text NOT NULL,
        due_at       timestamptz NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        reason       text NOT NULL
    );
    CREATE INDEX pending_erasures_due ON pending_erasures (due_at);

    -- Rejected messages could hold badge identifiers that can never be
    -- traced to a student for erasure: from now on ingest keeps only a
    -- redacted summary (privacy.redact); earlier payloads are dropped.
    UPDATE dead_letters SET payload = NULL WHERE payload IS NOT NULL;

    -- The audit log: append-only and hash-chained (privacy.audit_chain).
    CREATE TABLE audit_log (
        seq           bigint PRIMARY KEY,
        at            timestamptz NOT NULL,
        actor         text NOT NULL,
        actor_role    text NOT NULL,
        action        text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
        purpose       text,
        student_id    uuid,
        subject_count integer NOT NULL DEFAULT 1 CHECK (subject_count >= 0),
        detail        jsonb NOT NULL DEFAULT '{}',
        prev_hash     bytea NOT NULL CHECK (length(prev_hash) = 32),
        hash          bytea NOT NULL CHECK (length(hash) = 32)
    );
    CREATE INDEX audit_log_student ON audit_log (student_id, seq) WHERE student_id IS NOT NULL;
    CREATE INDEX audit_log_at ON audit_log (at);
    CREATE INDEX audit_log_actor_at ON audit_log (actor, at);

    -- The chain head (one row): the last seq and hash. Writers lock it
    -- (SELECT ... FOR UPDATE), so seqs are gapless and appends serialised.
    CREATE TABLE audit_chain (
        singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        last_seq   bigint NOT NULL,
        last_hash  bytea NOT NULL
    );
    INSERT INTO audit_chain VALUES (true, 0, decode(repeat('00', 32), 'hex'));  -- the genesis hash

    -- The students a bulk entry touched (a roster read), so "who accessed my
    -- child's data" finds them too. The entry's detail holds the count and a
    -- SHA-256 of the sorted ids, so the list is covered by the chain.
    CREATE TABLE audit_subjects (
        seq         bigint NOT NULL REFERENCES audit_log ON DELETE CASCADE,
        student_id  uuid NOT NULL,
        PRIMARY KEY (student_id, seq)
    );
    CREATE INDEX audit_subjects_seq ON audit_subjects (seq);

    -- Each removal of an old prefix of the chain (retention), with the hash
    -- of the last entry removed: the first remaining entry must follow it.
    CREATE TABLE audit_anchors (
        anchor_seq  bigint PRIMARY KEY,
        anchor_hash bytea NOT NULL CHECK (length(anchor_hash) = 32),
        removed     bigint NOT NULL,
        cutoff      timestamptz NOT NULL,
        at          timestamptz NOT NULL DEFAULT clock_timestamp()
    );

    CREATE FUNCTION audit_log_append() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        head audit_chain%ROWTYPE;
    BEGIN
        SELECT * INTO head FROM audit_chain FOR UPDATE;
        IF NEW.seq IS DISTINCT FROM head.last_seq + 1 OR NEW.prev_hash IS DISTINCT FROM head.last_hash THEN
            RAISE EXCEPTION 'audit_log is chained: the next entry must be % and follow the chain head', head.last_seq + 1
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        UPDATE audit_chain SET last_seq = NEW.seq, last_hash = NEW.hash;
        RETURN NEW;
    END $$;
    CREATE TRIGGER audit_log_append BEFORE INSERT ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append();

    -- Entries are never changed; they leave only through audit_remove_prefix().
    CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND OLD.seq <= coalesce(nullif(current_setting('campus.audit_prefix_upto', true), ''), '0')::bigint THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION '% is append-only: % refused (old entries leave only through audit_remove_prefix)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();

    -- Subjects are written with their entry (while it is the chain head), never changed after.
    CREATE FUNCTION audit_subjects_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NEW.seq = (SELECT last_seq FROM audit_chain) THEN
            RETURN NEW;
        END IF;
        IF TG_OP = 'DELETE' AND OLD.seq <= coalesce(nullif(current_setting('campus.audit_prefix_upto', true), ''), '0')::bigint THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_subjects is append-only and written with its entry: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_subjects_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_subjects
        FOR EACH ROW EXECUTE FUNCTION audit_subjects_guard();
    CREATE TRIGGER audit_subjects_no_truncate BEFORE TRUNCATE ON audit_subjects
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();

    -- The head changes only from the append trigger (nested trigger depth).
    CREATE FUNCTION audit_chain_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_chain changes only when an entry is appended: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_chain_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_chain
        FOR EACH ROW EXECUTE FUNCTION audit_chain_guard();
    CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
        FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_guard();

    CREATE FUNCTION audit_anchors_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND pg_trigger_depth() = 1
           AND NEW.anchor_seq = coalesce(nullif(current_setting('campus.audit_prefix_upto', true), ''), '0')::bigint THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_anchors is written only by audit_remove_prefix: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_anchors_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_anchors
        FOR EACH ROW EXECUTE FUNCTION audit_anchors_guard();
    CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
        FOR EACH STATEMENT EXECUTE FUNCTION audit_anchors_guard();

    -- The retention path: remove every entry before the first one at or
    -- after ``cutoff`` and record the new anchor. Returns the entries removed.
    CREATE FUNCTION audit_remove_prefix(cutoff timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        head      audit_chain%ROWTYPE;
        old_seq   bigint;
        new_seq   bigint;
        new_hash  bytea;
        removed   bigint;
    BEGIN
        SELECT * INTO head FROM audit_chain FOR UPDATE;  -- no entry is appended meanwhile
        SELECT coalesce(max(anchor_seq), 0) INTO old_seq FROM audit_anchors;
        SELECT coalesce(min(seq), head.last_seq + 1) - 1 INTO new_seq FROM audit_log WHERE at >= cutoff;
        IF new_seq <= old_seq THEN
            RETURN 0;
        END IF;
        SELECT hash INTO new_hash FROM audit_log WHERE seq = new_seq;
        IF new_hash IS NULL THEN
            RAISE EXCEPTION 'audit entry % is missing: run campus audit verify', new_seq
                USING ERRCODE = 'data_corrupted';
        END IF;
        PERFORM set_config('campus.audit_prefix_upto', new_seq::text, true);
        DELETE FROM audit_log WHERE seq <= new_seq;
        GET DIAGNOSTICS removed = ROW_COUNT;
        INSERT INTO audit_anchors (anchor_seq, anchor_hash, removed, cutoff) VALUES (new_seq, new_hash, removed, cutoff);
        PERFORM set_config('campus.audit_prefix_upto', '0', true);
        RETURN removed;
    END $$;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION audit_remove_prefix(timestamptz);
    DROP TABLE audit_anchors, audit_subjects, audit_chain, audit_log, pending_erasures, student_personal,
               student_data_keys;
    DROP FUNCTION audit_anchors_guard(), audit_subjects_guard(), audit_chain_guard(), audit_log_refuse(),
                  audit_log_append();
    ALTER TABLE consent_purposes
        DROP CONSTRAINT consent_purposes_lawful_basis,
        DROP CONSTRAINT consent_purposes_name,
        DROP CONSTRAINT consent_purposes_description,
        DROP COLUMN created_at;
    ALTER TABLE students DROP COLUMN erased_at;
    DROP INDEX badges_master_key;
    ALTER TABLE badges DROP COLUMN eid_key_master_id;
    """)
