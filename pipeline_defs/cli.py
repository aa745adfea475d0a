"""The ``pipeline`` console script: the local stack, sample data and operational helpers.

Errors a user can fix are printed as one line on stderr with a non-zero exit — never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from pipeline_defs.local.processes import StackError
from pipeline_defs.settings import SettingsError, get_settings


def _stack():
    """The stack of this state dir, on the ports it was started with (`.local/stack.json`) unless
    the environment names others."""
    import os

    from pipeline_defs.local.record import with_recorded_ports
    from pipeline_defs.local.stack import LocalStack

    return LocalStack(with_recorded_ports(get_settings(), os.environ))


def cmd_local_up(args: argparse.Namespace) -> int:
    stack = _stack()
    if args.foreground:
        return _run_foreground(stack, seed_days=args.days if args.seed else 0, dagster=not args.no_dagster)
    stack.up(dagster=not args.no_dagster, seed_days=args.days if args.seed else 0)
    print("ready — `eval \"$(pipeline local env)\"` to use it from this shell")
    return 0


def _run_foreground(stack, seed_days: int, dagster: bool) -> int:
    from pipeline_defs.local.foreground import run_foreground

    return run_foreground(stack, seed_days=seed_days, dagster=dagster)


def cmd_local_down(args: argparse.Namespace) -> int:
    stopped = _stack().down(wipe=args.wipe)
    if not stopped and not args.wipe:
        print("nothing was running")
    return 0


def cmd_local_status(args: argparse.Namespace) -> int:
    rows = _stack().status()
    width = max(len(name) for name, _, _ in rows)
    for name, state, endpoint in rows:
        print(f"{name:<{width}}  {state:<8}  {endpoint}")
    return 0 if all(state in ("up", "external") for name, state, _ in rows if name != "dagster") else 3


def cmd_local_env(args: argparse.Namespace) -> int:
    from pipeline_defs.local.stack import format_env

    print(format_env(_stack().env()))
    return 0


def cmd_aws(argv: Sequence[str]) -> int:
    """`pipeline aws …`: this venv's awscli with ``--endpoint-url`` of the running stack's moto (any
    awscli version, whatever the shell's environment) and the stack's region and fake credentials."""
    import os

    stack = _stack()
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    env = {**os.environ, **{k: v for k, v in stack.env().items() if k.startswith("AWS_") or k == "PATH"}}
    os.execve(aws, [aws, "--endpoint-url", stack.moto_url, *argv], env)
    return 0  # not reached


def cmd_seed(args: argparse.Namespace) -> int:
    from pipeline_defs.seed import seed_raw_bucket

    summary = seed_raw_bucket(get_settings(), days=args.days, end=args.end, bad_fraction=args.bad_fraction)
    print(f"seeded {summary}")
    return 0


def cmd_status_files(args: argparse.Namespace) -> int:
    from pipeline_defs.aws import client
    from pipeline_defs.state import list_partition_states, scan_states

    settings = get_settings()
    ddb = client("dynamodb", settings)
    if args.date:
        if not args.dataset:
            print("pipeline: --date needs --dataset", file=sys.stderr)
            return 2
        states = list(list_partition_states(ddb, settings.names.state_table, args.dataset, args.date))
    else:
        states = list(scan_states(ddb, settings.names.state_table, args.dataset))
    if not states:
        print("no files recorded" + (f" for {args.dataset}" if args.dataset else "") + (f" on {args.date}" if args.date else ""))
        return 0
    print(f"{'status':<12} {'dataset':<13} {'partition':<10} {'in':>8} {'loaded':>8} {'quar.':>6} "
          f"{'inserted':>8} {'updated':>8} {'same':>8} {'older':>8}  key [version]")
    for s in sorted(states, key=lambda s: (s.dataset, s.partition, s.key)):
        reason = f"  ({s.reason})" if s.reason else ""
        version = f" [{s.version_id}]" if s.version_id else ""
        print(f"{s.status:<12} {s.dataset:<13} {s.partition:<10} {s.rows_in:>8} {s.rows_loaded:>8} "
              f"{s.rows_quarantined:>6} {s.rows_inserted:>8} {s.rows_updated:>8} {s.rows_unchanged:>8} "
              f"{s.rows_superseded:>8}  {s.key}{version}{reason}")
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from pipeline_defs import dlq
    from pipeline_defs.aws import client

    settings = get_settings()
    if args.queue == "stream":  # Kinesis on-failure queue: replayed through the stream processor
        from pipeline_defs.local.poller import stream_dlq

        return stream_dlq(args.action, settings, limit=args.limit)
    dead, source = dlq.dlq_pairs(settings)[args.queue]
    sqs = client("sqs", settings)
    if args.action == "list":
        letters = dlq.peek(sqs, dead, limit=args.limit)
        print(f"{len(letters)} message(s) in {dead}")
        for letter in letters:
            print(f"  {letter.message_id}  receives={letter.receive_count}  {letter.summary}")
        return 0
    moved = dlq.redrive(sqs, dead, source, limit=args.limit)
    print(f"replayed {moved} message(s) from {dead} to {source}")
    return 0


def cmd_report_open(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline_defs.aws import client
    from pipeline_defs.report.download import ReportNotFound, download_report, parse_day

    settings = get_settings()
    try:
        path = download_report(settings, parse_day(args.date), client("s3", settings),
                               fmt="json" if args.json else "html", out=Path(args.out) if args.out else None)
    except (ReportNotFound, ValueError) as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return 1
    print(path)
    if args.browser:
        import webbrowser

        webbrowser.open(path.as_uri())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="the local stack (PostgreSQL, moto, Dagster)")
    local_sub = local.add_subparsers(dest="action", required=True)
    up = local_sub.add_parser("up", help="start every part in the background; returns when all are ready")
    up.add_argument("--seed", action="store_true", help="load sample data into the raw bucket")
    up.add_argument("--days", type=int, default=3, help="days of sample data with --seed (default 3)")
    up.add_argument("--no-dagster", action="store_true", help="do not start the Dagster webserver and daemon")
    up.add_argument("--foreground", action="store_true", help=argparse.SUPPRESS)  # used by `make dev`
    up.set_defaults(func=cmd_local_up)
    down = local_sub.add_parser("down", help="stop what `up` started")
    down.add_argument("--wipe", action="store_true", help="also delete the local database and state")
    down.set_defaults(func=cmd_local_down)
    local_sub.add_parser("status", help="each part: up/down and its endpoint").set_defaults(func=cmd_local_status)
    local_sub.add_parser("env", help="print `export` lines for the local stack").set_defaults(func=cmd_local_env)

    sub.add_parser("aws", help="the aws CLI pointed at the running local stack (`pipeline aws sqs list-queues`)",
                   add_help=False)
    seed = sub.add_parser("seed", help="realistic sample data for all datasets into the raw bucket")
    seed.add_argument("--days", type=int, default=3, help="how many days, ending yesterday (default 3)")
    seed.add_argument("--end", help="last day YYYY-MM-DD (default: yesterday, UTC)")
    seed.add_argument("--bad-fraction", type=float, default=0.01, help="share of deliberately bad rows (default 0.01)")
    seed.set_defaults(func=cmd_seed)

    status = sub.add_parser("status", help="processing state")
    status_sub = status.add_subparsers(dest="what", required=True)
    files = status_sub.add_parser("files", help="one line per raw file: status and row counts")
    files.add_argument("--dataset", help="only this dataset")
    files.add_argument("--date", help="only this partition (YYYY-MM-DD; needs --dataset)")
    files.set_defaults(func=cmd_status_files)

    dlq_parser = sub.add_parser("dlq", help="inspect and replay dead-lettered messages")
    dlq_parser.add_argument("action", choices=("list", "redrive"))
    dlq_parser.add_argument("--queue", choices=("uploads", "stream"), default="uploads",
                            help="uploads: S3 upload notifications (default); stream: Kinesis batches the "
                                 "stream processor gave up on (redrive re-reads and re-processes them)")
    dlq_parser.add_argument("--limit", type=int, default=100, help="at most this many messages")
    dlq_parser.set_defaults(func=cmd_dlq)

    report = sub.add_parser("report", help="published daily reports")
    report_sub = report.add_subparsers(dest="action", required=True)
    report_open = report_sub.add_parser("open", help="download a day's report to a local file and print its path")
    report_open.add_argument("date", help="the report's day, YYYY-MM-DD")
    report_open.add_argument("--json", action="store_true", help="the JSON twin instead of the HTML page")
    report_open.add_argument("--out", help="where to write it (default .local/reports/daily_report-<date>.html)")
    report_open.add_argument("--browser", action="store_true", help="also open it in the default browser")
    report_open.set_defaults(func=cmd_report_open)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["aws"]:  # everything after `aws` belongs to awscli
        try:
            return cmd_aws(argv[1:])
        except (StackError, SettingsError) as exc:
            print(f"pipeline: {exc}", file=sys.stderr)
            return 1
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (StackError, SettingsError) as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an unexpected failure is still one line, with its kind
        print(f"pipeline: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
