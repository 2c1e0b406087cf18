-- Provisions the Otesse database for docker-compose (the `provision` one-shot), as the superuser:
--   psql -v ON_ERROR_STOP=1 -f tools/postgres/provision.sql
-- Mirrors provisionDatabase() in libs/persistence/src/provision.ts with SERVICE_SCHEMAS
-- (libs/persistence/src/service-schemas.ts): keep the three in step. Idempotent: run it on every `up`.
--
-- Environment (psql 15+ `\getenv`); a password left empty or unset creates the role without one:
--   OTESSE_DB                            database name (default otesse)
--   OTESSE_EDGE_DB_PASSWORD              otesse_edge
--   OTESSE_VAULT_DB_PASSWORD             otesse_vault
--   OTESSE_CONNECTION_DB_PASSWORD        otesse_connection
--   OTESSE_SYNC_DB_PASSWORD              otesse_sync
--   OTESSE_AUDIT_DB_PASSWORD             otesse_audit        (audit's runtime role: no UPDATE/DELETE)
--   OTESSE_AUDIT_OWNER_DB_PASSWORD       otesse_audit_owner  (owns schema audit, runs its migrations)
\set ON_ERROR_STOP on
\set QUIET on
set client_min_messages = warning;

\getenv db OTESSE_DB
\if :{?db}
\else
\set db otesse
\endif
\getenv edge_pw OTESSE_EDGE_DB_PASSWORD
\if :{?edge_pw}
\else
\set edge_pw ''
\endif
\getenv vault_pw OTESSE_VAULT_DB_PASSWORD
\if :{?vault_pw}
\else
\set vault_pw ''
\endif
\getenv connection_pw OTESSE_CONNECTION_DB_PASSWORD
\if :{?connection_pw}
\else
\set connection_pw ''
\endif
\getenv sync_pw OTESSE_SYNC_DB_PASSWORD
\if :{?sync_pw}
\else
\set sync_pw ''
\endif
\getenv audit_pw OTESSE_AUDIT_DB_PASSWORD
\if :{?audit_pw}
\else
\set audit_pw ''
\endif
\getenv audit_owner_pw OTESSE_AUDIT_OWNER_DB_PASSWORD
\if :{?audit_owner_pw}
\else
\set audit_owner_pw ''
\endif

-- 1. On the maintenance database: the database (when missing), then every login role (each service's runtime
--    role, and its schema owner where that is a separate role); an existing role gets its password (re)set
--    only when one is given.
\connect postgres
set client_min_messages = warning;

select format('create database %I', :'db')
where not exists (select from pg_database where datname = :'db') \gexec

create temporary table logins (role text, pw text);
insert into logins values ('otesse_edge', :'edge_pw'),
                          ('otesse_vault', :'vault_pw'),
                          ('otesse_connection', :'connection_pw'),
                          ('otesse_sync', :'sync_pw'),
                          ('otesse_audit', :'audit_pw'),
                          ('otesse_audit_owner', :'audit_owner_pw');

select format('create role %I login%s', role,
              case when pw <> '' then format(' password %L', pw) else '' end)
from logins where not exists (select from pg_roles where rolname = logins.role) \gexec

select format('alter role %I password %L', role, pw) from logins where pw <> '' \gexec

-- 2. In the database: only the service roles (and the admin) may connect; nobody gets the public schema.
--    Each schema belongs to its owner role; the runtime role (when it is another one) gets USAGE only and
--    whatever the service's migrations grant it. Both roles find the schema first on their search_path.
\connect :db
set client_min_messages = warning;

select format('revoke all on database %I from public', :'db') \gexec
revoke create on schema public from public;

with s(ord, schema, role, owner) as (
  values (1, 'edge', 'otesse_edge', 'otesse_edge'),
         (2, 'vault', 'otesse_vault', 'otesse_vault'),
         (3, 'connection', 'otesse_connection', 'otesse_connection'),
         (4, 'sync', 'otesse_sync', 'otesse_sync'),
         (5, 'audit', 'otesse_audit', 'otesse_audit_owner')
), r(ord, k, schema, r) as (
  select ord, 0, schema, role from s
  union all
  select ord, 1, schema, owner from s where owner <> role
)
select stmt from (
  select ord, k, 1 as step, format('grant connect, temporary on database %I to %I', :'db', r) as stmt
  from r
  union all
  select ord, k, 2, format('alter role %I in database %I set search_path = %I', r, :'db', schema) from r
  union all
  select ord, 2, 3, format('create schema if not exists %I authorization %I', schema, owner) from s
  union all
  select ord, 2, 4, format('alter schema %I owner to %I', schema, owner) from s
  union all
  -- A database provisioned before the owner split has the runtime role owning the tables: hand them over.
  select ord, 2, 5, format('reassign owned by %I to %I', role, owner) from s where owner <> role
  union all
  select ord, 2, 6, format('grant usage on schema %I to %I', schema, role) from s where owner <> role
) statements
order by ord, k, step \gexec

\echo provisioned database :db
