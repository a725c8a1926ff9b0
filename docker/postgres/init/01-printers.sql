-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d),
-- through psql as the POSTGRES_USER. Creates the database and table the exporter reads
-- (the seed's familyRewardDb and printers, unchanged) and leaves the rows to you:
--   INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, access_code)
--   VALUES ('x1c-workshop', '192.168.1.50', '00M09A000000001', '12345678');
-- With `docker compose --profile demo up` the simulator fills it with simulated printers.
CREATE DATABASE "familyRewardDb";

\connect "familyRewardDb"

CREATE TABLE IF NOT EXISTS printers (
    id SERIAL PRIMARY KEY,
    printer_name TEXT NOT NULL,
    printer_ip TEXT NOT NULL,
    printer_bambu_id TEXT NOT NULL,
    access_code TEXT NOT NULL
);
