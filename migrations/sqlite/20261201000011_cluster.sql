-- Cluster mode runs on PostgreSQL only (see migrations/postgres); a SQLite
-- database is one node's. This keeps the two migration histories in step.
SELECT 1;
