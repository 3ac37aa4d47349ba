-- One row per user, browser fingerprint and IP address. The key is what a
-- login upserts on: a repeated login from the same browser and address only
-- moves last_seen (and the session) forward. Its leading user_id serves
-- the lookups of a user's identities.
CREATE TABLE identity.login_identities (
    user_id     text        NOT NULL,
    session_id  text        NOT NULL,
    -- Hex SHA-256 of the browser user agent; '' when the agent was unknown.
    fingerprint text        NOT NULL,
    -- Normalized IP address; '' when it was unknown.
    ip          text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    PRIMARY KEY (user_id, fingerprint, ip),
    CHECK (first_seen <= last_seen)
);

-- One row per order: the primary key is what makes a second OrderPlaced for
-- the same order (the orders reconciler re-publishing it) unable to score it
-- again; the stored score is announced again instead.
CREATE TABLE identity.order_scores (
    order_id        text             PRIMARY KEY,
    user_id         text             NOT NULL,
    score           double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    potential_fraud boolean          NOT NULL,
    -- The checkout's characteristics, as scored.
    fingerprint     text             NOT NULL,
    ip              text             NOT NULL,
    scored_at       timestamptz      NOT NULL
);

CREATE INDEX order_scores_user_id ON identity.order_scores (user_id);
