-- Jobs on several servers: a running job is held by its owner (a server)
-- until lease_until, which the owner moves on while it works. A job whose
-- lease ran out (its server died) is taken over by another server; its
-- own server, restarted, takes it back at once.
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until TIMESTAMP;
