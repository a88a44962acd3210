"""Install the Node webhook receiver's standardwebhooks now (scripts/test runs this)."""

import sys

from tests.support.webhook_receivers import ClientUnavailable, install_standardwebhooks

try:
    print(f"standardwebhooks (npm) in {install_standardwebhooks()}")
except ClientUnavailable as exc:
    sys.exit(f"tests.support.webhook_receivers: {exc}")
