"""The contract every queue adapter keeps (Replicate, fal, WaveSpeed), one suite run over each.

Each test runs the adapter's backend against its provider's emulator, in process and on the
test's own time (see `harness`). What only one provider does (its payloads, statuses, NSFW
flags, sync mode) is in that provider's test_<provider>_backend.py; each injectable fault on
every hosted backend, OpenAI's included, is in tests/reliability/test_fault_matrix.py.
"""
