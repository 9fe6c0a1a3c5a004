-- The lead store's database, beside Dagster's own (POSTGRES_DB). LEADS_DATABASE_URL in
-- .env.deploy names it: postgresql://<DAGSTER_PG_USER>:<password>@postgres:5432/leads
-- The project applies its own DDL (sql/postgresql/) at start-up.
CREATE DATABASE leads;
