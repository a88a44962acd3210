"""Install the tests' SMTP clients now (scripts/test runs this): nodemailer and the Java one."""

import sys

from tests.support.smtp_clients import ClientUnavailable, compile_java, install_nodemailer

try:
    print(f"nodemailer in {install_nodemailer()}; Jakarta Mail client in {compile_java()}")
except ClientUnavailable as exc:
    sys.exit(f"tests.support.smtp_clients: {exc}")
