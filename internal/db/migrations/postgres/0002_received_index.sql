-- The index of each item's "received" event in the custody log.
ALTER TABLE evidence ADD COLUMN received_index BIGINT;
