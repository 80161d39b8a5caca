"""Run a billing worker: `python worker.py` (or `billing worker`). See README.md, Operations."""

from billing_service.worker import main

if __name__ == "__main__":
    main()
