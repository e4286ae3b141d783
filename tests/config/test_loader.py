"""``load_settings``: discovery, formats, interpolation, environment overrides and flags (config.md §1)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tidegate.config import EmailProviderSettings, Settings, WebhookProviderSettings, load_settings
from tidegate.errors import ConfigError

from .conftest import Write

SECRET = "j" * 40
HEX = "ab" * 32


def problems(config: str | None = None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env=env or {})
    return caught.value.problems


# --- discovery -----------------------------------------------------------------------------------------


def test_no_file_gives_the_defaults(workdir: Path) -> None:
    assert load_settings(env={}) == Settings()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("tidegate.toml", "[server]\nport = 9001\n"),
        ("tidegate.yaml", "server: {port: 9001}\n"),
        ("tidegate.yml", "server:\n  port: 9001\n"),
    ],
)
def test_discovers_a_file_in_the_working_directory(write: Write, name: str, text: str) -> None:
    write(name, text)
    assert load_settings(env={}).server.port == 9001


def test_toml_wins_over_yaml_with_a_warning(write: Write, caplog: pytest.LogCaptureFixture) -> None:
    write("tidegate.toml", "[server]\nport = 9001\n")
    write("tidegate.yaml", "server: {port: 9002}\n")
    with caplog.at_level(logging.WARNING, logger="tidegate.config"):
        assert load_settings(env={}).server.port == 9001
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ignoring tidegate.yaml" in warnings[0]


def test_yaml_wins_over_yml(write: Write, caplog: pytest.LogCaptureFixture) -> None:
    write("tidegate.yaml", "server: {port: 9002}\n")
    write("tidegate.yml", "server: {port: 9003}\n")
    with caplog.at_level(logging.WARNING, logger="tidegate.config"):
        assert load_settings(env={}).server.port == 9002
    assert any("ignoring tidegate.yml" in r.getMessage() for r in caplog.records)


def test_config_path_beats_the_environment_and_the_working_directory(write: Write) -> None:
    write("tidegate.toml", "[server]\nport = 9001\n")
    env_file = write("conf/env.yaml", "server: {port: 9002}\n")
    flag_file = write("conf/flag.toml", "[server]\nport = 9003\n")
    env = {"TIDEGATE_CONFIG": str(env_file)}
    assert load_settings(env=env).server.port == 9002
    assert load_settings(str(flag_file), env=env).server.port == 9003


def test_a_named_file_that_does_not_exist_is_an_error(workdir: Path) -> None:
    assert problems("missing.toml") == ["config: file not found: missing.toml"]
    with pytest.raises(ConfigError, match=r"file not found: gone\.yaml"):
        load_settings(env={"TIDEGATE_CONFIG": "gone.yaml"})


def test_relative_paths_resolve_against_the_config_files_directory(write: Write, workdir: Path) -> None:
    path = write(
        "etc/tidegate.yaml",
        "state: {path: db/state.db}\naudit: {path: /abs/audit.db}\nrules: {directory: my-rules}\n",
    )
    settings = load_settings(str(path), env={})
    assert settings.state.path == workdir / "etc" / "db" / "state.db"
    assert settings.audit.path == Path("/abs/audit.db")
    assert settings.rules.directory == workdir / "etc" / "my-rules"
    assert settings.auth.file == workdir / "etc" / "auth.yaml"  # defaults resolve there too


# --- formats ---------------------------------------------------------------------------------------------

TOML = """\
[server]
host = "0.0.0.0"
port = 9090
[server.cors]
allowed_origins = ["https://ops.example.com"]
[audit]
redact_fields = ["password", "card.number"]
[circuit_breaker]
enabled = true
[circuit_breaker.providers.mail]
fallback_provider = "hook"
[[providers]]
name = "hook"
type = "webhook"
url = "https://hooks.example.com/ops"
headers = { Authorization = "Bearer t" }
[[providers]]
name = "mail"
type = "email"
host = "smtp.example.com"
from = "Tidegate <noreply@example.com>"
[[state_machines]]
name = "alert"
initial_state = "firing"
states = ["firing", "resolved"]
transitions = [{ from = "firing", to = "resolved", notify = true }]
notify_provider = "hook"
[[chains.definitions]]
name = "search-summarize"
timeout_seconds = 600
[[chains.definitions.steps]]
name = "search"
provider = "hook"
action_type = "web_search"
payload_template = { q = "{{ origin.payload.query }}" }
retry = { max_retries = 2 }
[[chains.definitions.steps]]
name = "summarize"
provider = "mail"
action_type = "summarize"
on_failure = "skip"
"""

YAML = """\
server:
  host: 0.0.0.0
  port: 9090
  cors: {allowed_origins: ["https://ops.example.com"]}
audit: {redact_fields: [password, card.number]}
circuit_breaker:
  enabled: true
  providers:
    mail: {fallback_provider: hook}
providers:
  - {name: hook, type: webhook, url: "https://hooks.example.com/ops", headers: {Authorization: Bearer t}}
  - {name: mail, type: email, host: smtp.example.com, from: "Tidegate <noreply@example.com>"}
state_machines:
  - name: alert
    initial_state: firing
    states: [firing, resolved]
    transitions: [{from: firing, to: resolved, notify: true}]
    notify_provider: hook
chains:
  definitions:
    - name: search-summarize
      timeout_seconds: 600
      steps:
        - {name: search, provider: hook, action_type: web_search,
           payload_template: {q: "{{ origin.payload.query }}"}, retry: {max_retries: 2}}
        - {name: summarize, provider: mail, action_type: summarize, on_failure: skip}
"""


def test_toml_and_yaml_share_one_schema(write: Write) -> None:
    from_toml = load_settings(str(write("a.toml", TOML)), env={})
    from_yaml = load_settings(str(write("a.yaml", YAML)), env={})
    assert from_toml == from_yaml
    assert from_toml.server.cors.allowed_origins == ["https://ops.example.com"]
    hook, mail = from_toml.providers
    assert isinstance(hook, WebhookProviderSettings) and hook.allow_action_url is False
    assert hook.headers["Authorization"].get_secret_value() == "Bearer t"
    assert isinstance(mail, EmailProviderSettings) and mail.from_ == "Tidegate <noreply@example.com>"
    chain = from_toml.chains.definitions[0]
    assert chain.steps[0].payload_template == {"q": "{{ origin.payload.query }}"}
    assert chain.steps[0].retry is not None and chain.steps[0].retry.max_retries == 2


def test_a_providers_list_replaces_the_default_one(write: Write) -> None:
    settings = load_settings(str(write("p.yaml", "providers: [{name: only, type: log}]\n")), env={})
    assert [p.name for p in settings.providers] == ["only"]


def test_the_production_example_loads(write: Write, workdir: Path) -> None:
    auth = write("auth.yaml", "users: []\n")
    text = (
        Path(__file__)
        .parent.joinpath("production.toml")
        .read_text()
        .replace("/etc/tidegate/auth.yaml", str(auth))
    )
    env = {
        "REDIS_PASSWORD": "redis-pw",
        "PG_PASSWORD": "pg-pw",
        "TIDEGATE_JWT_SECRET": SECRET,
        "APPROVAL_KEY_2026_02": HEX,
        "APPROVAL_KEY_2026_01": "cd" * 32,
        "OPS_HOOK_TOKEN": "tok",
    }
    settings = load_settings(str(write("tidegate.toml", text)), env=env)
    assert settings.server.workers == 4
    assert settings.state.url == "redis://:redis-pw@redis.internal:6379/0"
    assert settings.stream_backend == "redis" and settings.stream.url == settings.state.url
    assert settings.audit.url == "postgresql://tidegate:pg-pw@pg.internal:5432/tidegate"
    assert [k.kid for k in settings.approvals.keys] == ["2026-02", "2026-01"]
    assert settings.auth.jwt_secret is not None and settings.auth.jwt_secret.get_secret_value() == SECRET
    hook = settings.providers[0]
    assert isinstance(hook, WebhookProviderSettings)
    assert hook.headers["Authorization"].get_secret_value() == "Bearer tok"


def test_yaml_duplicate_keys_are_rejected(write: Write) -> None:
    path = write("dup.yaml", "server:\n  port: 1\n  port: 2\n")
    assert problems(str(path)) == ["config: dup.yaml: line 3: duplicate key 'port'"]


def test_yaml_merge_keys_are_not_duplicates(write: Write) -> None:
    path = write("merge.yaml", "server:\n  <<: {port: 1, host: 0.0.0.0}\n  port: 2\n")
    assert load_settings(str(path), env={}).server.port == 2


def test_yaml_syntax_errors_name_the_line_and_never_quote_it(write: Write) -> None:
    path = write("bad.yaml", "auth:\n  jwt_secret: 'hunter2hunter2'\n  x: [1, 2\n")
    (message,) = problems(str(path))
    assert message.startswith("config: bad.yaml: line ")
    assert "hunter2" not in message


def test_toml_syntax_errors_name_the_line(write: Write) -> None:
    path = write("bad.toml", "[server]\nport = \n")
    assert problems(str(path)) == ["config: bad.toml: Invalid value (at line 2, column 8)"]


@pytest.mark.parametrize("text", ["- 1\n", "just text\n"])
def test_the_top_level_must_be_a_mapping(write: Write, text: str) -> None:
    assert problems(str(write("list.yaml", text))) == ["config: list.yaml: the top level must be a mapping"]


def test_an_empty_yaml_file_is_the_defaults(write: Write) -> None:
    assert load_settings(str(write("empty.yaml", "# nothing\n")), env={}) == Settings()


def test_unsupported_file_types(write: Write) -> None:
    assert problems(str(write("c.json", "{}"))) == [
        "config: c.json: unsupported file type '.json' (use .toml, .yaml or .yml)"
    ]


def test_non_string_yaml_keys_become_strings(write: Write) -> None:
    path = write("k.yaml", "rate_limit:\n  tenants:\n    overrides:\n      123: {requests_per_window: 5}\n")
    assert load_settings(str(path), env={}).rate_limit.tenants.limit_for("123") == (5, 60)


# --- interpolation ---------------------------------------------------------------------------------------


def test_interpolation_replaces_references_in_string_values(write: Write) -> None:
    path = write(
        "i.toml",
        '[server]\nhost = "${HOST}"\nport = "${PORT}"\n[state]\nbackend = "redis"\n'
        'url = "redis://:${PW}@redis:6379/${DB}"\n',
    )
    settings = load_settings(str(path), env={"HOST": "0.0.0.0", "PORT": "9100", "PW": "p", "DB": "2"})
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9100)
    assert settings.state.url == "redis://:p@redis:6379/2"


def test_double_dollar_writes_a_literal_reference(write: Write) -> None:
    path = write("e.yaml", "audit: {redact_placeholder: 'cost $${AMOUNT} and $$5 and ${X}'}\n")
    assert load_settings(str(path), env={"X": "y"}).audit.redact_placeholder == "cost ${AMOUNT} and $$5 and y"


def test_keys_are_not_interpolated(write: Write) -> None:
    path = write("k.yaml", "circuit_breaker:\n  providers:\n    ${NAME}: {}\n")
    assert "unknown provider '${NAME}'" in problems(str(path), {"NAME": "log"})[0]


def test_an_unset_variable_names_the_key_and_the_variable(write: Write) -> None:
    path = write("u.toml", '[auth]\njwt_secret = "${TIDEGATE_JWT_SECRET}"\n[server]\nport = "${PORT}"\n')
    assert problems(str(path)) == [
        "config: auth.jwt_secret: environment variable 'TIDEGATE_JWT_SECRET' is not set",
        "config: server.port: environment variable 'PORT' is not set",
    ]


def test_an_invalid_reference_is_an_error(write: Write) -> None:
    path = write("r.yaml", "providers: [{name: h, type: webhook, url: 'https://x.example/${oops'}]\n")
    assert problems(str(path)) == [
        "config: providers[0].url: invalid reference '${' (write $${ for a literal ${)",
    ]


def test_referenced_tidegate_variables_are_not_overrides(write: Write) -> None:
    write("auth.yaml", "users: []\n")
    path = write("a.toml", '[auth]\nenabled = true\njwt_secret = "${TIDEGATE_JWT_SECRET}"\n')
    settings = load_settings(str(path), env={"TIDEGATE_JWT_SECRET": SECRET})
    assert settings.auth.enabled


# --- environment overrides -------------------------------------------------------------------------------


def test_environment_overrides_nested_keys_with_json_values(write: Write) -> None:
    path = write("tidegate.yaml", "server: {port: 9001}\n")
    env = {
        "TIDEGATE_SERVER__PORT": "9090",
        "TIDEGATE_SERVER__CORS__ALLOWED_ORIGINS": '["https://ops.example.com"]',
        "TIDEGATE_SERVER__CORS__ALLOW_CREDENTIALS": "true",
        "TIDEGATE_AUDIT__REDACT_PLACEHOLDER": '"quoted"',
        "TIDEGATE_EXECUTOR__TIMEOUT_SECONDS": "2.5",
        "TIDEGATE_LOGGING__LEVEL": "debug",
        "TIDEGATE_STATE": '{"backend": "memory"}',
    }
    settings = load_settings(str(path), env=env)
    assert settings.server.port == 9090
    assert settings.server.cors.allowed_origins == ["https://ops.example.com"]
    assert settings.server.cors.allow_credentials is True
    assert settings.audit.redact_placeholder == "quoted"
    assert settings.executor.timeout_seconds == 2.5
    assert settings.logging.level == "debug"
    assert settings.state.backend == "memory"


def test_variable_names_are_case_insensitive(workdir: Path) -> None:
    settings = load_settings(
        env={"tidegate_server__port": "9091", "TIDEGATE_Rate_Limit__Callers__Window_Seconds": "5"}
    )
    assert settings.server.port == 9091
    assert settings.rate_limit.callers.window_seconds == 5


def test_string_keys_keep_digit_values_as_text(workdir: Path) -> None:
    digits = "1" * 40
    settings = load_settings(env={"TIDEGATE_AUTH__JWT_SECRET": digits, "TIDEGATE_SERVER__HOST": "true"})
    assert settings.auth.jwt_secret is not None and settings.auth.jwt_secret.get_secret_value() == digits
    assert settings.server.host == "true"


def test_digit_segments_index_list_elements_of_the_file(write: Write) -> None:
    path = write(
        "tidegate.yaml",
        "providers:\n  - {name: log, type: log}\n  - {name: hook, type: webhook, url: 'https://a.example/x'}\n",
    )
    settings = load_settings(
        str(path),
        env={"TIDEGATE_PROVIDERS__1__URL": "https://b.example/y", "TIDEGATE_PROVIDERS__0__LEVEL": "debug"},
    )
    log, hook = settings.providers
    assert isinstance(hook, WebhookProviderSettings) and hook.url == "https://b.example/y"
    assert log.type == "log" and log.level == "debug"


def test_digit_segments_index_the_default_providers(workdir: Path) -> None:
    settings = load_settings(env={"TIDEGATE_PROVIDERS__1__ALLOWED_URL_PREFIXES": '["https://ok.example/"]'})
    webhook = settings.providers[1]
    assert isinstance(webhook, WebhookProviderSettings)
    assert webhook.allowed_url_prefixes == ["https://ok.example/"]


def test_a_missing_list_element_is_an_error(workdir: Path) -> None:
    assert problems(env={"TIDEGATE_PROVIDERS__5__URL": "https://x.example/"}) == [
        "config: environment variable 'TIDEGATE_PROVIDERS__5__URL' maps to no key "
        "(providers has no element 5)"
    ]
    assert problems(env={"TIDEGATE_STATE_MACHINES__0__NAME": "x"}) == [
        "config: environment variable 'TIDEGATE_STATE_MACHINES__0__NAME' maps to no key "
        "(state_machines has no element 0)"
    ]


def test_a_key_of_another_provider_type_is_unknown(workdir: Path) -> None:
    assert problems(env={"TIDEGATE_PROVIDERS__0__URL": "https://x.example/"}) == [
        "config: unknown environment variable 'TIDEGATE_PROVIDERS__0__URL'"
    ]


def test_map_keys_match_provider_names(write: Write) -> None:
    path = write("tidegate.yaml", "providers: [{name: email, type: log}, {name: Hook, type: webhook}]\n")
    env = {
        "TIDEGATE_CIRCUIT_BREAKER__PROVIDERS__EMAIL__FALLBACK_PROVIDER": "Hook",
        "TIDEGATE_CIRCUIT_BREAKER__PROVIDERS__HOOK__FAILURE_THRESHOLD": "9",
    }
    breaker = load_settings(str(path), env=env).circuit_breaker
    assert breaker.providers["email"].fallback_provider == "Hook"
    assert breaker.providers["Hook"].failure_threshold == 9


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "TIDEGATE_SERVER__PROT",
            "config: unknown environment variable 'TIDEGATE_SERVER__PROT' "
            "(did you mean 'TIDEGATE_SERVER__PORT'?)",
        ),
        (
            "TIDEGATE_SERVR__PORT",
            "config: unknown environment variable 'TIDEGATE_SERVR__PORT' "
            "(did you mean 'TIDEGATE_SERVER__PORT'?)",
        ),
        ("TIDEGATE_JWT_SECRET", "config: unknown environment variable 'TIDEGATE_JWT_SECRET'"),
        ("TIDEGATE_SERVER__PORT__X", "config: unknown environment variable 'TIDEGATE_SERVER__PORT__X'"),
        ("TIDEGATE_", "config: unknown environment variable 'TIDEGATE_'"),
    ],
)
def test_a_variable_that_maps_to_no_key_is_an_error(workdir: Path, name: str, message: str) -> None:
    assert problems(env={name: "secret-value"}) == [message]


def test_tidegate_config_and_other_variables_are_not_overrides(workdir: Path) -> None:
    assert load_settings(env={"PATH": "/bin", "HOME": "/root", "XTIDEGATE_SERVER__PORT": "1"}) == Settings()


def test_environment_beats_the_file_and_flags_beat_the_environment(write: Write) -> None:
    path = write("tidegate.toml", '[server]\nhost = "10.0.0.1"\nport = 9001\n')
    env = {"TIDEGATE_SERVER__PORT": "9002", "TIDEGATE_SERVER__HOST": "10.0.0.2"}
    settings = load_settings(str(path), env=env, overrides={"server.port": 9003, "server.host": None})
    assert (settings.server.host, settings.server.port) == ("10.0.0.2", 9003)


def test_environment_values_are_not_interpolated(workdir: Path) -> None:
    assert load_settings(env={"TIDEGATE_SERVER__HOST": "${HOST}", "HOST": "x"}).server.host == "${HOST}"


# --- all problems together -------------------------------------------------------------------------------


def test_every_problem_is_reported_together(write: Write) -> None:
    path = write(
        "tidegate.yaml",
        "server: {prot: 1, port: abc}\n"
        "executor: {max_retries: 11}\n"
        "providers: [{name: log, type: log}, {name: log, type: log}]\n"
        "logging: {level: loud}\n"
        "auth: {jwt_secret: '${MISSING}'}\n",
    )
    assert problems(str(path), {"TIDEGATE_BOGUS": "1"}) == [
        "config: auth.jwt_secret: environment variable 'MISSING' is not set",
        "config: unknown environment variable 'TIDEGATE_BOGUS'",
        "config: server.port: must be an integer between 1 and 65535 (got 'abc')",
        "config: unknown key 'server.prot' (did you mean 'server.port'?)",
        "config: executor.max_retries: must be an integer between 0 and 10 (got 11)",
        "config: logging.level: must be one of 'debug', 'info', 'warning', 'error' (got 'loud')",
        "config: providers[1].name: duplicate provider name 'log'",
    ]


def test_auth_enabled_needs_the_auth_file(write: Write, workdir: Path) -> None:
    path = write("tidegate.yaml", f"auth: {{enabled: true, jwt_secret: {SECRET}}}\n")
    assert problems(str(path)) == [
        f"config: auth.file: file not found: {workdir / 'auth.yaml'} (required when auth.enabled is true)"
    ]
    write("auth.yaml", "users: []\n")
    assert load_settings(str(path), env={}).auth.enabled
