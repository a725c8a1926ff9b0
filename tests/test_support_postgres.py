import pytest

from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.tier("e2e")


def test_throwaway_cluster_holds_the_printers_table(printers_db: tuple[PostgresCluster, str]) -> None:
    cluster, dbname = printers_db
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, access_code)"
                    " VALUES ('a', '127.0.0.1', '01S00A000000001', '12345678')")
        cur.execute("SELECT printer_name FROM printers")
        assert cur.fetchall() == [("a",)]
    conn.close()
