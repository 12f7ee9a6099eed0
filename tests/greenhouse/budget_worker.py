"""A separate worker process for the rate-budget tests (run with `python -m`).

`notes`: posts notes through its own HarvestClient, as a Celery worker process would.
`count`: increments a counter through the configured budget store, to show it is atomic.
Each prints "ready", waits for a line on stdin, works, then prints one JSON line.
"""

import json
import os
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from apps.greenhouse.harvest.client import HarvestClient, HarvestCredentials
    from apps.greenhouse.harvest.ratelimit import store_from_url

    job = json.loads(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    if job["kind"] == "notes":
        credentials = HarvestCredentials(
            client_id=job["client_id"],
            client_secret=os.environ["HARVEST_TEST_CLIENT_SECRET"],
            api_base_url=job["url"],
            token_url=job["url"] + "/token",
        )
        client = HarvestClient(credentials, sub=job["sub"], timeout=(2.0, 5.0), read_retries=0)
        for number in range(job["count"]):
            client.note_create(
                candidate_id=job["candidate_id"], body=f"worker {job['worker']} note {number}"
            )
    else:
        store = store_from_url(settings.GREENHOUSE_RATE_BUDGET_URL)

        def increment(state):
            state["n"] = state.get("n", 0) + 1

        for _ in range(job["count"]):
            store.transact(job["key"], increment)
    print(json.dumps({"started": started, "finished": time.time()}), flush=True)


if __name__ == "__main__":
    main()
