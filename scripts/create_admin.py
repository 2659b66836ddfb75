"""Create the first administrator of a VAD Lens database (run once, at installation).

    nice -n 19 python scripts/create_admin.py --username admin          # asks for the password
    echo "$PW" | python scripts/create_admin.py --username admin --password-stdin

The database is DATABASE_URL (default var/vadlens.db); its schema is created or upgraded first.
Refused once an administrator exists: further accounts are made by that administrator in the app.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from db import database_url, init_db, make_engine
from db.errors import InvalidInput, PermissionDenied
from db.services import Service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--username", required=True)
    parser.add_argument("--display-name", default="")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    parser.add_argument("--database-url", default=None, help="overrides DATABASE_URL")
    args = parser.parse_args(argv)

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password for the administrator: ")
        if getpass.getpass("Repeat it: ") != password:
            print("The passwords differ; nothing was created.", file=sys.stderr)
            return 2

    engine = make_engine(args.database_url or database_url())
    init_db(engine)
    try:
        user = Service(engine).create_first_admin(args.username, password, args.display_name)
    except (PermissionDenied, InvalidInput) as exc:
        print(f"Not created: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"Administrator {user.username!r} created in {engine.url.render_as_string(hide_password=True)}")
    print(
        "Next: log in and record the deployment (Admin page, Deployment tab). Until it is recorded no photo or "
        "video can be analysed; in an EU school or workplace only a medical or safety purpose (or research under "
        "an approved protocol) allows it (EU AI Act, Art. 5(1)(f))."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
