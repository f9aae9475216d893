"""The production env file of the harness's run: .env.prod.example as an operator fills
it in. Every `change-me` becomes a fresh secret (tests/support/compose.py's filled_in:
long enough for every rule, URL-safe), the example.com names become the site's own, and
the chosen provider gets its credential. Returns the variables, as compose reads them."""

import secrets
from pathlib import Path

from tests.support.compose import active_entries, filled_in

# RFC 2606's .test: nobody's domain, and not the example's.
SITE_DOMAIN = "acme.test"
EXAMPLE_DOMAIN = "example.com"
# EMAIL_BACKEND's provider -> the variable it cannot send without.
PROVIDER_CREDENTIALS = {"postmark": "POSTMARK_SERVER_TOKEN", "mailgun": "MAILGUN_API_KEY"}
PROVIDER_CREDENTIALS |= {"sendgrid": "SENDGRID_API_KEY", "brevo": "BREVO_API_KEY"}


def operator_filled(example: Path, target: Path) -> dict[str, str]:
    filled_in(example, target)
    target.write_text(target.read_text().replace(EXAMPLE_DOMAIN, SITE_DOMAIN))
    values = active_entries(target)
    backend = values.get("EMAIL_BACKEND", "")
    for provider, credential in PROVIDER_CREDENTIALS.items():
        if f".{provider}." in backend and not values.get(credential):
            with target.open("a") as env_file:
                env_file.write(f"{credential}={secrets.token_urlsafe(32)}\n")
    return active_entries(target)
