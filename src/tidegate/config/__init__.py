"""Configuration: the one typed ``Settings`` object and ``load_settings`` (config.md).

``Settings()`` is the embedded default; ``load_settings`` layers the file, ``TIDEGATE_*`` variables and CLI
flags on top and raises ``ConfigError`` listing every problem. Nothing else reads the environment."""

from tidegate.config._base import MASK, ConfigModel, mask_url
from tidegate.config.access import (
    ApprovalKeySettings,
    ApprovalsSettings,
    AuthSettings,
    RateLimitOverride,
    RateLimitScope,
    RateLimitSettings,
    TenantRateLimitScope,
)
from tidegate.config.backends import AuditSettings, StateSettings, StreamSettings, resolve_stream_backend
from tidegate.config.chains import (
    ChainBranch,
    ChainDefinition,
    ChainsSettings,
    ChainStep,
    StepRetry,
    chain_provider_problems,
)
from tidegate.config.loader import load_settings, validate_data
from tidegate.config.providers import (
    EmailProviderSettings,
    LogProviderSettings,
    ProviderSettings,
    SlackProviderSettings,
    WebhookProviderSettings,
)
from tidegate.config.sections import (
    ApiSettings,
    BackgroundSettings,
    BreakerPolicy,
    CircuitBreakerProviderSettings,
    CircuitBreakerSettings,
    EmbeddingSettings,
    ExecutorSettings,
    LoggingSettings,
    RecurringSettings,
    RulesSettings,
    TracingSettings,
)
from tidegate.config.server import CorsSettings, ServerSettings, is_loopback_host
from tidegate.config.settings import Settings
from tidegate.config.show import render_settings
from tidegate.config.state_machines import StateMachineSettings, StateTimeoutSettings, TransitionSettings

__all__ = [
    "MASK",
    "ApiSettings",
    "ApprovalKeySettings",
    "ApprovalsSettings",
    "AuditSettings",
    "AuthSettings",
    "BackgroundSettings",
    "BreakerPolicy",
    "ChainBranch",
    "ChainDefinition",
    "ChainStep",
    "ChainsSettings",
    "CircuitBreakerProviderSettings",
    "CircuitBreakerSettings",
    "ConfigModel",
    "CorsSettings",
    "EmailProviderSettings",
    "EmbeddingSettings",
    "ExecutorSettings",
    "LogProviderSettings",
    "LoggingSettings",
    "ProviderSettings",
    "RateLimitOverride",
    "RateLimitScope",
    "RateLimitSettings",
    "RecurringSettings",
    "RulesSettings",
    "ServerSettings",
    "Settings",
    "SlackProviderSettings",
    "StateMachineSettings",
    "StateSettings",
    "StateTimeoutSettings",
    "StepRetry",
    "StreamSettings",
    "TenantRateLimitScope",
    "TracingSettings",
    "TransitionSettings",
    "WebhookProviderSettings",
    "chain_provider_problems",
    "is_loopback_host",
    "load_settings",
    "mask_url",
    "render_settings",
    "resolve_stream_backend",
    "validate_data",
]
