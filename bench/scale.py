"""Item 5, scale: the support admin's sync-log list and the team's sync-log page over 1,000,000
sync records: time per page and SQL queries per page (first page, a filtered page, a deep page).

    .venv/bin/python -m bench.scale                      # seeds 1,000,000 records once (kept)
    .venv/bin/python -m bench.scale --records 100000 --reseed

Seeding is SQL (INSERT ... SELECT generate_series) into the `bench_scale` database: one team,
2,000 prospects and threads, one message per record (SyncRecord.message is one-to-one), statuses
spread as in production (mostly written). Pages are requested with django.test.Client in this
process (DEBUG off), the admin as a superuser, the team page as the team's admin; each page
`--repeat` times, the median reported; queries counted with CaptureQueriesContext.
"""

import argparse
import json
import time

from bench import common

PROSPECTS = 2000


def _literal(field, value) -> str:
    from django.db.models import BooleanField, JSONField

    if value is None:
        return "NULL"
    if isinstance(field, JSONField):
        return "'" + json.dumps(value).replace("'", "''") + "'::jsonb"
    if isinstance(field, BooleanField):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _insert_select(model, expressions: dict, source: str) -> str:
    """INSERT INTO <model> (every concrete column) SELECT <expression or default> FROM source."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(f'"{field.column}"')
        if field.column in expressions:
            values.append(expressions[field.column])
        elif field.null:
            values.append("NULL")
        else:
            values.append(_literal(field, field.get_default()))
    # Model metadata and this script's own expressions: no input from anyone.
    table, names, selected = model._meta.db_table, ", ".join(columns), ", ".join(values)
    return f'INSERT INTO "{table}" ({names}) SELECT {selected} FROM {source}'  # noqa: S608


def seed(n: int):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.greenhouse.models import SyncRecord
    from apps.messaging.models import Channel, Message, Thread
    from apps.sequences.models import Prospect

    common.flush_db()
    world = common.seed_team(slug="scale", sandbox=None)
    team_id, user_id = world.team.pk, world.user.pk
    get_user_model().objects.create_superuser("support", "support@bench.example", "pw")
    Prospect.objects.bulk_create(
        [Prospect(team_id=team_id, first_name="Scale", last_name=str(i)) for i in range(PROSPECTS)]
    )
    prospects = list(Prospect.objects.filter(team_id=team_id).values_list("pk", flat=True))
    Thread.objects.bulk_create(
        [
            Thread(
                team_id=team_id,
                prospect_id=p,
                owner_id=user_id,
                channel=Channel.EMAIL,
                subject=f"Hello {i}",
            )
            for i, p in enumerate(prospects)
        ]
    )
    first_thread = Thread.objects.filter(team_id=team_id).order_by("pk").first().pk
    first_prospect = min(prospects)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_select(
                Message,
                {
                    "team_id": str(team_id),
                    "thread_id": f"{first_thread} + (g % {PROSPECTS})",
                    "direction": "CASE WHEN g % 4 = 0 THEN 'inbound' ELSE 'outbound' END",
                    "channel": "'email'",
                    "sender_id": str(user_id),
                    "from_address": "'rec-scale@bench.example'",
                    "to_addresses": """'["c@candidates.example"]'::jsonb""",
                    "subject": "'Re: Hello ' || (g % 2000)",
                    "body_text": "'Hi there, message ' || g",
                    "status": "CASE WHEN g % 4 = 0 THEN 'received' ELSE 'sent' END",
                    "created_at": f"now() - make_interval(secs => ({n} - g) * 30)",
                },
                f"generate_series(1, {n}) AS g",
            )
        )
        cursor.execute(
            _insert_select(
                SyncRecord,
                {
                    "message_id": "m.id",
                    "team_id": str(team_id),
                    "prospect_id": f"{first_prospect} + (m.thread_id - {first_thread})",
                    "thread_id": "m.thread_id",
                    "channel": "'email'",
                    "direction": "m.direction",
                    "status": "CASE WHEN m.id % 100 < 90 THEN 'written' WHEN m.id % 100 < 95 "
                    "THEN 'skipped' WHEN m.id % 100 < 98 THEN 'failed' ELSE 'pending' END",
                    "reason": "CASE WHEN m.id % 100 BETWEEN 90 AND 94 THEN 'candidate_paused' "
                    "ELSE 'sequence_email' END",
                    "note_id": "CASE WHEN m.id % 100 < 90 THEN 700000 + m.id END",
                    "candidate_id": "40000 + m.thread_id",
                    "note_ref": "'OR-' || m.id || '-0123456789'",
                    "attempts": "1",
                    "created_at": "m.created_at",
                    "updated_at": "m.created_at",
                    "written_at": "CASE WHEN m.id % 100 < 90 THEN m.created_at END",
                    "last_error": "CASE WHEN m.id % 100 BETWEEN 95 AND 97 THEN "
                    "'Greenhouse refused the note: candidate_id: does not exist' ELSE '' END",
                },
                "messaging_message AS m WHERE m.team_id = " + str(team_id),
            )
        )
        cursor.execute("ANALYZE")
    print(f"seeded {n} records in {time.perf_counter() - started:.0f} s", flush=True)


def measure(client, url: str, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm (templates, connections)
    times, queries, status = [], [], None
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
        queries.append(len(captured))
    slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:3]
    return {
        "url": url,
        "status": status,
        "median_ms": round(common.median(times), 1),
        "max_ms": round(max(times), 1),
        "queries": queries[-1],
        "queries_constant": len(set(queries)) == 1,
        "slowest_queries": [{"s": q["time"], "sql": q["sql"][:300]} for q in slowest],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    common.setup("scale", ALLOWED_HOSTS="testserver,127.0.0.1")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from apps.greenhouse.models import SyncRecord
    from apps.sequences.models import Prospect
    from apps.teams.models import Membership

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    if args.reseed or SyncRecord.objects.count() != args.records:
        seed(args.records)
    ids = SyncRecord.objects.order_by("id").values_list("id", flat=True)
    deep_before = ids[1000]  # 1,000 records from the oldest end
    prospect = SyncRecord.objects.order_by("-id").values_list("prospect_id", flat=True)[0]
    prospect_name = Prospect.objects.get(pk=prospect).last_name

    staff = Client()
    staff.force_login(get_user_model().objects.get(username="support"))
    admin_url = "/admin/greenhouse/syncrecord/"
    admin_pages = {
        "first": admin_url,
        "filtered (status failed)": admin_url + "?status__exact=failed",
        # The admin counts at most 10,000 rows (CappedPaginator): page 100 is the deepest.
        "deep (page 100, OFFSET 9,900)": admin_url + "?p=100",
        "search (note ref)": admin_url + f"?q=OR-{ids[500]}-0123456789",
    }
    team_admin = Membership.objects.filter(role=Membership.Role.ADMIN).first().user
    member = Client()
    member.force_login(team_admin)
    team_url = "/team/greenhouse/log/"
    team_pages = {
        "first": team_url,
        "filtered (status failed)": team_url + "?status=failed",
        "filtered (one prospect)": team_url + f"?prospect={prospect}",
        "deep (1,000 from the oldest)": team_url + f"?before={deep_before}",
        # Issue 14 item 12: by a candidate's name (first and last name prefixes), and a prefix
        # every prospect shares (the search takes the first 100 of them).
        "search (name of one prospect)": team_url + f"?q=Scale+{prospect_name}",
        "search (name prefix of every prospect)": team_url + "?q=scal",
    }
    results = {"admin": {}, "team": {}}
    for name, url in admin_pages.items():
        results["admin"][name] = measure(staff, url, args.repeat)
        print(name, results["admin"][name]["median_ms"], flush=True)
    for name, url in team_pages.items():
        results["team"][name] = measure(member, url, args.repeat)
        print(name, results["team"][name]["median_ms"], flush=True)
    common.record(
        "scale",
        {"config": vars(args), "records": SyncRecord.objects.count(), "pages": results},
    )


if __name__ == "__main__":
    main()
