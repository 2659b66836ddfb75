"""Load a SIMULATED demo cohort (invented subjects, readings, outcomes) into VAD Lens, and
optionally run the outcome study (`vadcore.outcome_study`) on it.

    nice -n 19 python scripts/demo_cohort.py --admin admin              # asks for the password
    nice -n 19 python scripts/demo_cohort.py --evaluate-only [--signal 0]  # no database at all

Everything goes into a new group named "[SIMULATED] ..." flagged is_simulated, which the service
layer keeps apart from real groups (no real subject in it, no training on a mix). `--signal 0`
makes readings carry no information about the outcomes: the study should then not pass (it does so
in about 3% of such cohorts; README, "What the outcome predictor can and cannot claim").
"""

from __future__ import annotations

import argparse
import getpass
import sys

from db import database_url, init_db, make_engine
from db.demo import load_demo_cohort, simulate_cohort
from db.services import Service
from vadcore.features import subject_period_features
from vadcore.outcome_study import study_outcomes
from vadcore.outcomes import TARGETS, training_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin", help="administrator's username (to load into the database)")
    parser.add_argument("--password-stdin", action="store_true")
    parser.add_argument("--group-name", default="Demo class")
    parser.add_argument("--subjects", type=int, default=120)
    parser.add_argument("--sessions-per-period", type=int, default=8)
    parser.add_argument("--signal", type=float, default=1.0, help="0 = readings unrelated to outcomes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evaluate-only", action="store_true", help="simulate and evaluate without a database")
    parser.add_argument("--database-url", default=None, help="overrides DATABASE_URL")
    parser.add_argument("--no-evaluate", action="store_true", help="load only; skip the cross-validation")
    args = parser.parse_args(argv)

    cohort = simulate_cohort(
        args.subjects, sessions_per_period=args.sessions_per_period, signal=args.signal, random_state=args.seed
    )
    print(
        f"SIMULATED cohort: {args.subjects} invented subjects, {len(cohort.readings)} readings, "
        f"{len(cohort.periods)} periods, signal={args.signal}"
    )
    order = [p.name for p in sorted(cohort.periods, key=lambda p: p.starts_on)]
    if args.evaluate_only:
        table = training_table(subject_period_features(cohort.readings, cohort.periods), cohort.outcomes)
    else:
        if not args.admin:
            parser.error("--admin is required unless --evaluate-only")
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
        engine = make_engine(args.database_url or database_url())
        init_db(engine)
        service = Service(engine)
        admin = service.authenticate(args.admin, password)
        if admin is None or admin.role != "admin":
            print("Not an administrator's username and password.", file=sys.stderr)
            return 1
        group_id = load_demo_cohort(service, admin, cohort, args.group_name)
        print(f"Loaded into group {group_id} ([SIMULATED] {args.group_name})")
        # Simulated readings infer nothing from anyone, so they need no deployment record; a record is a legal
        # statement about the real use, which a demo must not make for the administrator.
        if service.deployment(admin) is None:
            print(
                "No deployment is recorded: the simulated cohort needs none, but real photos and videos cannot be "
                "analysed until an administrator records it (Admin page, Deployment tab)."
            )
        table = service.training_data(admin, [group_id])
        engine.dispose()
        if args.no_evaluate:
            return 0

    for target in TARGETS:
        study = study_outcomes(table, target, periods_order=order, random_state=args.seed)
        print(f"{target}: {study.verdict}")
        print("  " + study.mode_label)
        if study.importance is not None:
            print(
                "  largest coefficients:",
                ", ".join(f"{r.feature} {r.coefficient:+.3f}" for r in study.importance.head(4).itertuples()),
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
