//! A Kafka connection's options (secrets already resolved) as librdkafka
//! settings, with Materialize's rules for the security protocol: it is
//! `SECURITY PROTOCOL` if given (any case); else `SASL_SSL` if a SASL
//! option is given, `SSL` if a TLS option is, and `PLAINTEXT` otherwise
//! (Materialize says `SSL` there: Freshet has always defaulted to
//! plaintext). A SASL protocol needs a mechanism, user name and password;
//! an option the protocol does not use is refused rather than ignored (a
//! password librdkafka never sends, a CA it never checks).

use std::collections::BTreeMap;

use crate::sql::PlanError;
use crate::storage::kafka;

/// The SASL options (`SASL_CONFIGS` in Materialize).
const SASL_OPTIONS: [&str; 3] = ["SASL MECHANISMS", "SASL USERNAME", "SASL PASSWORD"];
/// The TLS options.
const SSL_OPTIONS: [&str; 3] = ["SSL CERTIFICATE AUTHORITY", "SSL CERTIFICATE", "SSL KEY"];
/// The SASL mechanisms librdkafka (as Freshet builds it: with OpenSSL,
/// without Cyrus SASL) can use with a user name and password.
const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The librdkafka settings of a Kafka connection whose options (upper-case
/// names, resolved values) are `given`.
pub fn kafka_client_options(
    given: Vec<(&str, String)>,
) -> Result<BTreeMap<String, String>, PlanError> {
    let invalid = |msg: String| PlanError::InvalidDefinition(msg);
    let mut options: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in given {
        if !KNOWN.contains(&name) {
            return Err(invalid(format!(
                "unrecognized Kafka connection option {name}"
            )));
        }
        if options.insert(name, value).is_some() {
            return Err(invalid(format!("option {name} specified more than once")));
        }
    }
    let seen = |names: &[&str]| names.iter().any(|n| options.contains_key(n));
    let protocol = match options.get("SECURITY PROTOCOL") {
        Some(p) => {
            let p = p.to_uppercase();
            if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&p.as_str()) {
                return Err(invalid(format!("unknown security protocol: {p}")));
            }
            p
        }
        None if seen(&SASL_OPTIONS) => "SASL_SSL".to_string(),
        None if seen(&SSL_OPTIONS) => "SSL".to_string(),
        None => "PLAINTEXT".to_string(),
    };
    let tls = protocol.ends_with("SSL");
    let sasl = protocol.starts_with("SASL");

    let mut out = BTreeMap::new();
    let Some(brokers) = options.get("BROKER").or(options.get("BROKERS")) else {
        return Err(invalid("a Kafka connection needs BROKER or BROKERS".into()));
    };
    if options.contains_key("BROKER") && options.contains_key("BROKERS") {
        return Err(invalid("give BROKER or BROKERS, not both".into()));
    }
    out.insert("bootstrap.servers".to_string(), brokers.clone());
    out.insert("security.protocol".to_string(), protocol.clone());

    if tls {
        if options.contains_key("SSL CERTIFICATE") && !options.contains_key("SSL KEY") {
            return Err(invalid(
                "SSL KEY must be specified with SSL CERTIFICATE".into(),
            ));
        }
        for (option, setting) in [
            ("SSL CERTIFICATE AUTHORITY", "ssl.ca.pem"),
            ("SSL CERTIFICATE", "ssl.certificate.pem"),
        ] {
            if let Some(v) = options.get(option) {
                out.insert(setting.to_string(), v.clone());
            }
        }
        if options.contains_key("SSL CERTIFICATE")
            && let Some(key) = options.get("SSL KEY")
        {
            out.insert("ssl.key.pem".to_string(), key.clone());
        }
    }
    if sasl {
        let Some(mechanism) = options.get("SASL MECHANISMS") else {
            return Err(invalid("SASL MECHANISMS must be specified".into()));
        };
        let Some(user) = options.get("SASL USERNAME") else {
            return Err(invalid("SASL USERNAME must be specified".into()));
        };
        let Some(password) = options.get("SASL PASSWORD") else {
            return Err(invalid("SASL PASSWORD must be specified".into()));
        };
        // Upper-cased as Materialize does: `SASL MECHANISMS = plain`
        // (a word, folded to lower case) means PLAIN.
        let mechanism = mechanism.to_uppercase();
        if ["GSSAPI", "OAUTHBEARER"].contains(&mechanism.as_str()) {
            return Err(PlanError::Unsupported(format!(
                "SASL mechanism {mechanism}"
            )));
        }
        if !MECHANISMS.contains(&mechanism.as_str()) {
            return Err(invalid(format!(
                "unsupported SASL mechanism: {mechanism} (use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            )));
        }
        out.insert("sasl.mechanisms".to_string(), mechanism);
        out.insert("sasl.username".to_string(), user.clone());
        out.insert("sasl.password".to_string(), password.clone());
    }
    // An option the protocol does not use (in Materialize's words).
    let used = |name: &str| {
        (tls && (name == "SSL CERTIFICATE AUTHORITY" || name == "SSL CERTIFICATE"))
            || (tls && name == "SSL KEY" && options.contains_key("SSL CERTIFICATE"))
            || (sasl && SASL_OPTIONS.contains(&name))
    };
    if let Some(unused) = SSL_OPTIONS
        .iter()
        .chain(&SASL_OPTIONS)
        .find(|n| options.contains_key(*n) && !used(n))
    {
        return Err(invalid(format!(
            "option {unused} not supported with this configuration (SECURITY PROTOCOL {protocol})"
        )));
    }

    // How long the broker may hold a source reader's fetch that has no new
    // data (`kafka_reader::FETCH_WAIT_MS` when not given): a broker that
    // answers as soon as data arrives (Kafka) can take a longer wait, which
    // only makes idle readers ask less often.
    if let Some(text) = options.get("FETCH WAIT MAX MS") {
        if !text
            .parse::<u32>()
            .is_ok_and(|ms| ms <= kafka::MAX_FETCH_WAIT_MS)
        {
            return Err(invalid(format!(
                "FETCH WAIT MAX MS must be an integer from 0 to {}, not {text}",
                kafka::MAX_FETCH_WAIT_MS
            )));
        }
        out.insert("fetch.wait.max.ms".to_string(), text.clone());
    }
    Ok(out)
}

/// Every option a Kafka connection takes (`PROGRESS TOPIC ...` are
/// accepted and unused: Freshet's sinks keep their progress elsewhere).
const KNOWN: [&str; 12] = [
    "BROKER",
    "BROKERS",
    "SECURITY PROTOCOL",
    "SASL MECHANISMS",
    "SASL USERNAME",
    "SASL PASSWORD",
    "SSL CERTIFICATE AUTHORITY",
    "SSL CERTIFICATE",
    "SSL KEY",
    "FETCH WAIT MAX MS",
    "PROGRESS TOPIC",
    "PROGRESS TOPIC REPLICATION FACTOR",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn options(given: &[(&'static str, &str)]) -> Result<Vec<(String, String)>, String> {
        kafka_client_options(given.iter().map(|(n, v)| (*n, v.to_string())).collect())
            .map(|m| m.into_iter().collect())
            .map_err(|e| e.to_string())
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_protocol_follows_the_options_given() {
        assert_eq!(
            options(&[("BROKER", "b:9092")]),
            Ok(pairs(&[
                ("bootstrap.servers", "b:9092"),
                ("security.protocol", "PLAINTEXT")
            ]))
        );
        // SASL options alone: SASL over TLS, as in Materialize.
        assert_eq!(
            options(&[
                ("BROKER", "b:9092"),
                ("SASL MECHANISMS", "scram-sha-256"),
                ("SASL USERNAME", "alice"),
                ("SASL PASSWORD", "pw"),
            ]),
            Ok(pairs(&[
                ("bootstrap.servers", "b:9092"),
                ("sasl.mechanisms", "SCRAM-SHA-256"),
                ("sasl.password", "pw"),
                ("sasl.username", "alice"),
                ("security.protocol", "SASL_SSL"),
            ]))
        );
        assert_eq!(
            options(&[("BROKER", "b"), ("SSL CERTIFICATE AUTHORITY", "ca")]),
            Ok(pairs(&[
                ("bootstrap.servers", "b"),
                ("security.protocol", "SSL"),
                ("ssl.ca.pem", "ca"),
            ]))
        );
        assert_eq!(
            options(&[
                ("BROKER", "b"),
                ("SECURITY PROTOCOL", "sasl_ssl"),
                ("SASL MECHANISMS", "PLAIN"),
                ("SASL USERNAME", "u"),
                ("SASL PASSWORD", "p"),
                ("SSL CERTIFICATE AUTHORITY", "ca"),
                ("SSL CERTIFICATE", "cert"),
                ("SSL KEY", "key"),
            ]),
            Ok(pairs(&[
                ("bootstrap.servers", "b"),
                ("sasl.mechanisms", "PLAIN"),
                ("sasl.password", "p"),
                ("sasl.username", "u"),
                ("security.protocol", "SASL_SSL"),
                ("ssl.ca.pem", "ca"),
                ("ssl.certificate.pem", "cert"),
                ("ssl.key.pem", "key"),
            ]))
        );
    }

    #[test]
    fn sasl_needs_all_three_options_and_a_known_mechanism() {
        let sasl = |extra: &[(&'static str, &str)]| {
            let mut o = vec![("BROKER", "b"), ("SECURITY PROTOCOL", "SASL_PLAINTEXT")];
            o.extend_from_slice(extra);
            options(&o).unwrap_err()
        };
        assert!(sasl(&[]).contains("SASL MECHANISMS must be specified"));
        assert!(sasl(&[("SASL MECHANISMS", "PLAIN")]).contains("SASL USERNAME must be specified"));
        assert!(
            sasl(&[("SASL MECHANISMS", "PLAIN"), ("SASL USERNAME", "u")])
                .contains("SASL PASSWORD must be specified")
        );
        let all = |m| {
            sasl(&[
                ("SASL MECHANISMS", m),
                ("SASL USERNAME", "u"),
                ("SASL PASSWORD", "p"),
            ])
        };
        assert!(all("GARBAGE").contains("unsupported SASL mechanism: GARBAGE"));
        assert!(all("gssapi").contains("SASL mechanism GSSAPI"));
    }

    #[test]
    fn options_the_protocol_does_not_use_are_refused() {
        let e = options(&[
            ("BROKER", "b"),
            ("SECURITY PROTOCOL", "PLAINTEXT"),
            ("SASL PASSWORD", "p"),
        ])
        .unwrap_err();
        assert!(
            e.contains("option SASL PASSWORD not supported with this configuration"),
            "{e}"
        );
        let e = options(&[
            ("BROKER", "b"),
            ("SECURITY PROTOCOL", "SASL_PLAINTEXT"),
            ("SASL MECHANISMS", "PLAIN"),
            ("SASL USERNAME", "u"),
            ("SASL PASSWORD", "p"),
            ("SSL CERTIFICATE AUTHORITY", "ca"),
        ])
        .unwrap_err();
        assert!(
            e.contains("option SSL CERTIFICATE AUTHORITY not supported"),
            "{e}"
        );
        let e = options(&[("BROKER", "b"), ("SSL KEY", "k")]).unwrap_err();
        assert!(e.contains("option SSL KEY not supported"), "{e}");
        let e = options(&[("BROKER", "b"), ("SSL CERTIFICATE", "c")]).unwrap_err();
        assert!(
            e.contains("SSL KEY must be specified with SSL CERTIFICATE"),
            "{e}"
        );
        let e = options(&[("BROKER", "b"), ("SECURITY PROTOCOL", "tls")]).unwrap_err();
        assert!(e.contains("unknown security protocol: TLS"), "{e}");
        let e = options(&[("BROKER", "b"), ("BROKER", "c")]).unwrap_err();
        assert!(e.contains("option BROKER specified more than once"), "{e}");
    }
}
