//! Mitigation advice: the built-in knowledge base, or an LLM with the knowledge base
//! as the fallback.

use suriguard_net::NetworkModel;
use suriguard_report::incident::Incident;
use suriguard_report::mitigate::{self, Advice, MitigateConfig, Provider};
use suriguard_report::secret::scrub_opt;

use crate::error::CtlError;
use crate::http;

/// Advice for an incident. `offline` skips the LLM even when one is configured.
pub fn advise(cfg: &MitigateConfig, net: &NetworkModel, inc: &Incident, offline: bool) -> Advice {
    let home = |ip: &str| ip.parse().map(|a| net.is_home(a)).unwrap_or(false);
    let kb = mitigate::knowledge_base(inc, &home);
    if cfg.provider == Provider::None || offline {
        return kb;
    }
    match ask(cfg, inc, kb.class) {
        Ok(steps) => Advice {
            steps,
            source: format!(
                "{} ({})",
                match cfg.provider {
                    Provider::Cohere => "cohere",
                    _ => "openai-compatible",
                },
                cfg.model.as_deref().unwrap_or("?")
            ),
            ..kb
        },
        Err(e) => Advice {
            fallback_reason: Some(suriguard_cli::chain(&e)),
            ..kb
        },
    }
}

fn ask(
    cfg: &MitigateConfig,
    inc: &Incident,
    class: mitigate::AttackClass,
) -> Result<Vec<String>, CtlError> {
    let summary = mitigate::llm_summary(inc, class, cfg.max_summary);
    let body = mitigate::llm_request(cfg, &summary);
    let client = http::client(cfg.timeout, cfg.ca_file.as_deref())?;
    let mut req = client.post(cfg.endpoint()).json(&body);
    let key = match &cfg.key {
        Some(k) => Some(k.resolve()?),
        None => None,
    };
    if let Some(k) = &key {
        req = req.bearer_auth(k.expose());
    }
    let answer = http::send_json(req).map_err(|f| CtlError::Remote {
        service: "LLM".into(),
        message: scrub_opt(key.as_ref(), suriguard_cli::chain(&f)),
    })?;
    let text = mitigate::llm_answer(cfg.provider, &answer)
        .map_err(|source| CtlError::LlmAnswer { source })?;
    let steps = mitigate::steps_of(&text);
    if steps.is_empty() {
        return Err(CtlError::LlmNoSteps);
    }
    Ok(steps)
}
