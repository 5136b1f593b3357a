"""The schema as numbered migrations: entry N-1 of MIGRATIONS brings user_version to N."""

from __future__ import annotations

# Conventions: every table STRICT; instants are INTEGER unix epoch milliseconds (UTC);
# days are TEXT 'YYYY-MM-DD' in the sending timezone, computed by the caller.
# Only append to MIGRATIONS; never edit an entry that has shipped.

_V1 = """
CREATE TABLE domains (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    daily_limit     INTEGER CHECK (daily_limit IS NULL OR daily_limit >= 0),
    esp             TEXT,
    state           TEXT    NOT NULL DEFAULT 'active'
                    CHECK (state IN ('active', 'paused', 'cooldown', 'disabled')),
    reason          TEXT    NOT NULL DEFAULT '',
    cooldown_until  INTEGER,
    in_config       INTEGER NOT NULL DEFAULT 1 CHECK (in_config IN (0, 1))
) STRICT;

CREATE TABLE mailboxes (
    id                INTEGER PRIMARY KEY,
    address           TEXT    NOT NULL UNIQUE,
    domain_id         INTEGER NOT NULL REFERENCES domains (id),
    display_name      TEXT    NOT NULL DEFAULT '',
    daily_limit       INTEGER NOT NULL CHECK (daily_limit >= 0),
    -- effective ramp start: the config's, or one set at runtime (/warmup start, cool-down)
    warmup_start      TEXT,
    -- the config's last value, so a re-sync only overrides warmup_start when the TOML changed
    cfg_warmup_start  TEXT,
    state             TEXT    NOT NULL
                      CHECK (state IN ('active', 'warming', 'paused', 'cooldown', 'disabled')),
    reason            TEXT    NOT NULL DEFAULT '',
    resting_until     INTEGER,
    next_send_at      INTEGER,
    last_sent_at      INTEGER,
    in_config         INTEGER NOT NULL DEFAULT 1 CHECK (in_config IN (0, 1))
) STRICT;
CREATE INDEX mailboxes_domain ON mailboxes (domain_id);

CREATE TABLE campaigns (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    state          TEXT    NOT NULL DEFAULT 'active'
                   CHECK (state IN ('active', 'paused', 'stopped', 'disabled')),
    reason         TEXT    NOT NULL DEFAULT '',
    timezone       TEXT    NOT NULL,
    days           TEXT    NOT NULL,  -- JSON list of 'mon'..'sun'
    hours          TEXT    NOT NULL,  -- 'HH:MM-HH:MM'
    daily_limit    INTEGER CHECK (daily_limit IS NULL OR daily_limit >= 0),
    during_warmup  INTEGER NOT NULL DEFAULT 0 CHECK (during_warmup IN (0, 1)),
    in_config      INTEGER NOT NULL DEFAULT 1 CHECK (in_config IN (0, 1)),
    -- 'config': owned by the TOML (disabled when it disappears); 'upload': sent to the bot
    origin         TEXT    NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'upload')),
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE steps (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    step_no      INTEGER NOT NULL CHECK (step_no >= 1),
    subject      TEXT,
    body         TEXT    NOT NULL,
    html         TEXT,
    wait_days    INTEGER NOT NULL DEFAULT 0 CHECK (wait_days >= 0),
    PRIMARY KEY (campaign_id, step_no)
) STRICT, WITHOUT ROWID;

CREATE TABLE leads (
    id                 INTEGER PRIMARY KEY,
    campaign_id        INTEGER NOT NULL REFERENCES campaigns (id),
    email              TEXT    NOT NULL,
    vars               TEXT    NOT NULL DEFAULT '{}',  -- JSON object of template variables
    state              TEXT    NOT NULL DEFAULT 'queued'
                       CHECK (state IN ('queued', 'active', 'finished', 'replied', 'bounced',
                                        'complained', 'unsubscribed', 'suppressed', 'failed')),
    next_step          INTEGER NOT NULL DEFAULT 1 CHECK (next_step >= 1),
    -- when next_step may go out; NULL while a step is in flight or nothing is due
    next_due_at        INTEGER,
    mailbox_id         INTEGER REFERENCES mailboxes (id),
    thread_message_id  TEXT,
    created_at         INTEGER NOT NULL,
    UNIQUE (campaign_id, email)
) STRICT;
-- "oldest queued leads of a campaign": a range scan in id (= insertion) order
CREATE INDEX leads_queued ON leads (campaign_id, id) WHERE state = 'queued';
-- "due follow-ups of a campaign, oldest first"
CREATE INDEX leads_due ON leads (campaign_id, next_due_at) WHERE state = 'active';
-- the importer's "another campaign holds this address" and event -> lead lookups
CREATE INDEX leads_email ON leads (email);

CREATE TABLE sends (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('campaign', 'warmup')),
    lead_id      INTEGER REFERENCES leads (id),
    campaign_id  INTEGER REFERENCES campaigns (id),
    step_no      INTEGER,
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes (id),
    day          TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'reserved'
                 CHECK (state IN ('reserved', 'sending', 'sent', 'retry', 'failed', 'unknown')),
    message_id   TEXT    UNIQUE,
    attempts     INTEGER NOT NULL DEFAULT 0,
    smtp_code    INTEGER,
    smtp_reply   TEXT,
    reserved_at  INTEGER NOT NULL,
    sent_at      INTEGER,
    updated_at   INTEGER NOT NULL,
    UNIQUE (lead_id, step_no),
    CHECK ((kind = 'campaign') = (lead_id IS NOT NULL AND campaign_id IS NOT NULL
                                  AND step_no IS NOT NULL)),
    CHECK (kind = 'campaign' OR (lead_id IS NULL AND campaign_id IS NULL AND step_no IS NULL))
) STRICT;
CREATE INDEX sends_mailbox_day ON sends (mailbox_id, day);
-- sends over a health window, per mailbox, read from the index alone
CREATE INDEX sends_sent_at ON sends (sent_at, mailbox_id) WHERE sent_at IS NOT NULL;
-- crash recovery and retries look for sends that are not finished
CREATE INDEX sends_open ON sends (state) WHERE state IN ('reserved', 'sending', 'retry');

CREATE TABLE usage (
    scope  TEXT    NOT NULL CHECK (scope IN ('mailbox', 'domain', 'campaign')),
    ref    INTEGER NOT NULL,
    day    TEXT    NOT NULL,
    sent   INTEGER NOT NULL DEFAULT 0 CHECK (sent >= 0),
    PRIMARY KEY (scope, ref, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    source       TEXT    NOT NULL,
    source_id    TEXT    NOT NULL,
    kind         TEXT    NOT NULL
                 CHECK (kind IN ('delivered', 'bounce_hard', 'bounce_soft', 'complaint', 'open',
                                 'click', 'unsubscribe', 'reply', 'auto_reply', 'block')),
    email        TEXT,
    mailbox_id   INTEGER REFERENCES mailboxes (id),
    send_id      INTEGER REFERENCES sends (id),
    campaign_id  INTEGER REFERENCES campaigns (id),
    step_no      INTEGER,
    occurred_at  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    detail       TEXT,
    UNIQUE (source, source_id)
) STRICT;
CREATE INDEX events_mailbox_time ON events (mailbox_id, occurred_at);
-- window counts of one kind (hard bounces, complaints) per mailbox, read from the index alone
CREATE INDEX events_kind_time ON events (kind, occurred_at, mailbox_id, send_id);

CREATE TABLE suppression (
    entry       TEXT    PRIMARY KEY,  -- lower-case address, or '@domain'
    reason      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL,  -- kind + subject: the quiet period applies per key
    severity    TEXT    NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    text        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX alerts_key_time ON alerts (key, created_at);

CREATE TABLE alert_deliveries (
    alert_id         INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    chat_id          INTEGER NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    sent_at          INTEGER,
    PRIMARY KEY (alert_id, chat_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX alert_deliveries_pending ON alert_deliveries (next_attempt_at)
    WHERE state = 'pending';

CREATE TABLE cursors (
    source      TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
"""

# Process-wide values that must survive restarts, such as the unsubscribe token secret.
_V2 = """
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT, WITHOUT ROWID;
"""

# For /status at 1M leads and years of history (bench/bench_status.py). Leads by campaign and
# state, kept by triggers, so /status and /campaigns read a few rows instead of counting a
# million leads. Every write to `leads` goes through a trigger, so no code path can forget
# it; rows whose count fell to 0 stay and readers skip them. The seed counts the leads there
# are when the migration runs with one plain scan (NOT INDEXED: walking the (campaign_id,
# email) index would look every row up on its own).
# Also used by the importer, which drops it for its one bulk INSERT and adds that INSERT's
# count itself (storage/leads.py insert_leads), inside the same transaction.
LEADS_COUNT_INSERT_TRIGGER = """CREATE TRIGGER leads_count_insert AFTER INSERT ON leads
BEGIN
    INSERT INTO lead_counts (campaign_id, state, n) VALUES (new.campaign_id, new.state, 1)
    ON CONFLICT (campaign_id, state) DO UPDATE SET n = n + 1;
END"""

_V3 = f"""
CREATE TABLE lead_counts (
    campaign_id  INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state)
) STRICT, WITHOUT ROWID;

INSERT INTO lead_counts (campaign_id, state, n)
SELECT campaign_id, state, count(*) FROM leads NOT INDEXED GROUP BY campaign_id, state;

{LEADS_COUNT_INSERT_TRIGGER};

CREATE TRIGGER leads_count_delete AFTER DELETE ON leads
BEGIN
    UPDATE lead_counts SET n = n - 1 WHERE campaign_id = old.campaign_id AND state = old.state;
END;

CREATE TRIGGER leads_count_update AFTER UPDATE OF campaign_id, state ON leads
WHEN new.campaign_id IS NOT old.campaign_id OR new.state IS NOT old.state
BEGIN
    UPDATE lead_counts SET n = n - 1 WHERE campaign_id = old.campaign_id AND state = old.state;
    INSERT INTO lead_counts (campaign_id, state, n) VALUES (new.campaign_id, new.state, 1)
    ON CONFLICT (campaign_id, state) DO UPDATE SET n = n + 1;
END;

-- "slots used today over all mailboxes" (/status): one day's rows from the index alone, however
-- long the history
CREATE INDEX usage_day ON usage (day, scope, sent);
"""

# Reading what comes back (SPEC 8, 12): the label an admin gave a lead's reply, the inbound
# mail an event came from (an in-thread answer needs its Message-ID), and which lead a chat
# notification is about and which chat message it became (buttons and answers refer to it).
_V4 = """
ALTER TABLE leads ADD COLUMN label TEXT
    CHECK (label IN ('interested', 'not_interested', 'unsubscribe'));
-- /campaigns counts labels per campaign: from this index alone, however many leads there are
CREATE INDEX leads_label ON leads (campaign_id, label) WHERE label IS NOT NULL;
ALTER TABLE events ADD COLUMN message_id TEXT;
ALTER TABLE alerts ADD COLUMN lead_id INTEGER REFERENCES leads (id);
ALTER TABLE alert_deliveries ADD COLUMN message_id INTEGER;
CREATE INDEX alert_deliveries_message ON alert_deliveries (chat_id, message_id)
    WHERE message_id IS NOT NULL;
"""

# An admin's answer to a reply goes out as a send of kind 'reply' (SPEC 12): in the lead's
# thread, with its lead and campaign but no step. Only CHECK constraints loosen, which leaves
# every stored row valid and the file format as it is, so SQLite's documented shortcut for
# that applies: edit the table's SQL in sqlite_schema and bump schema_version (see
# https://sqlite.org/lang_altertable.html, "making other kinds of table schema changes"),
# instead of copying the sends table (millions of rows) into a new one.
SENDS_KIND_CHECKS = (
    (
        "CHECK (kind IN ('campaign', 'warmup'))",
        "CHECK (kind IN ('campaign', 'warmup', 'reply'))",
    ),
    (
        "CHECK (kind = 'campaign' OR "
        "(lead_id IS NULL AND campaign_id IS NULL AND step_no IS NULL))",
        "CHECK (kind <> 'warmup' OR "
        "(lead_id IS NULL AND campaign_id IS NULL AND step_no IS NULL)),\n"
        "    CHECK (kind <> 'reply' OR "
        "(lead_id IS NOT NULL AND campaign_id IS NOT NULL AND step_no IS NULL))",
    ),
)
_V5 = "-- python: relax_sends_kind_checks"

# /lead finds a lead's events by its sends and by its address without reading them all.
_V6 = """
CREATE INDEX events_send ON events (send_id) WHERE send_id IS NOT NULL;
CREATE INDEX events_email ON events (lower(email));
"""

# An ESP's events name a message by the provider's own id, which its relay's 250 reply gave
# (SPEC 8, ESP part): stored with the send, looked up by it for each page of events.
_V7 = """
ALTER TABLE sends ADD COLUMN provider_id TEXT;
CREATE INDEX sends_provider ON sends (provider_id) WHERE provider_id IS NOT NULL;
"""

# A hard bounce, complaint or unsubscribe closes the address's open leads in every campaign
# (any letter case): without this index each one scanned every lead's address, ~40 ms at
# 100,000 leads, so 100,000 ESP events with 5,000 such took minutes (bench/bench_esp.py).
_V8 = """
CREATE INDEX leads_email_lower ON leads (lower(email));
"""

# The warm-up loop (SPEC 7, issue 12). warmup_days: each mailbox's share of its cap the loop
# takes today (campaigns get the rest) and how much of it is reserved so far. warmup_mails: the
# loop's mails, new threads planned each morning and answers planned as mail arrives (each in
# place of one of its mailbox's new mails not yet sent, so the day stays at its volume); each gets
# its Message-ID when planned, so the sends row with that Message-ID is the proof it went out
# (a crash can't send one twice). placements: where each warm-up mail landed at its receiver,
# first sighting only (a rescued mail shows up again in the inbox). placement_hold: campaign
# mail held while the mailbox's placement is low (SPEC 7), warm-up mail goes on.
_V9 = """
CREATE TABLE warmup_days (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes (id),
    day           TEXT    NOT NULL,
    volume        INTEGER NOT NULL CHECK (volume >= 0),
    sent          INTEGER NOT NULL DEFAULT 0 CHECK (sent >= 0),
    PRIMARY KEY (mailbox_id, day)
) STRICT, WITHOUT ROWID;
CREATE INDEX warmup_days_day ON warmup_days (day);

CREATE TABLE warmup_mails (
    id          INTEGER PRIMARY KEY,
    day         TEXT    NOT NULL,
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id),
    recipient   TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    message_id  TEXT    NOT NULL UNIQUE,
    answers     TEXT    UNIQUE,
    subject     TEXT,
    thread      TEXT
) STRICT;
CREATE INDEX warmup_mails_due ON warmup_mails (due_at);
-- a mailbox's mails of a day: the answers' room, what an answer replaces, answers ahead
CREATE INDEX warmup_mails_day ON warmup_mails (day, mailbox_id);

CREATE TABLE placements (
    message_id  TEXT    NOT NULL PRIMARY KEY,
    receiver    TEXT    NOT NULL,
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id),
    folder      TEXT    NOT NULL CHECK (folder IN ('inbox', 'spam')),
    seen_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX placements_mailbox ON placements (mailbox_id, seen_at, folder);

ALTER TABLE mailboxes ADD COLUMN placement_hold INTEGER NOT NULL DEFAULT 0
    CHECK (placement_hold IN (0, 1));
"""

# The tick's due follow-ups, read by their thread's mailbox (storage/snapshot.py
# DUE_FOLLOWUPS): only the dozen mailboxes that may send now, not every campaign's backlog.
# By campaign (leads_due) a tick read ~2,500 rows to keep a dozen (bench/bench_tick.py).
_V10 = """
CREATE INDEX leads_mailbox_due ON leads (mailbox_id, next_due_at) WHERE state = 'active';
"""

# The health window's sends per mailbox (storage/snapshot.py WINDOW_SENDS) from the index alone:
# with (mailbox_id, day) each of a week's rows was fetched from the table to test its sent_at,
# 13 ms a read at the demo's 1,200 a day, read on every tick that sends (1 ms covered).
_V11 = """
DROP INDEX sends_mailbox_day;
CREATE INDEX sends_mailbox_day ON sends (mailbox_id, day, sent_at);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10, _V11)
