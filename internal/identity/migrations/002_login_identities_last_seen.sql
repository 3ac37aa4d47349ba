-- The retention sweep (Config.LoginRetention) deletes login identities by
-- the time they were last seen.
CREATE INDEX login_identities_last_seen ON identity.login_identities (last_seen);
