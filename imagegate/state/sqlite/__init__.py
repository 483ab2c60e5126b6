"""imagegate's state in one SQLite file on this machine (the default): ledger, latency
measurements and job journal, shared by the threads and processes that open the same file."""
