//! Target: requests → `tfpilot::core::hcl::render_request`.
//!
//! tests/forms_hcl.rs already proves value-exact round trips of `render_module_file`;
//! this target goes wider on the whole path (config lookups, `value_from`, tag merging)
//! with any string, number and bool, control characters and huge values, and checks
//! the renderer never panics, never fails its own round-trip check, and always writes a
//! file that hcl-rs parses as exactly one module block between the markers.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tfpilot::config::catalogue::InputValue;
use tfpilot::config::repo::{RepoConfig, is_identifier};
use tfpilot::core::hcl::{
    META_ARGUMENTS, RenderError, begin_marker, end_marker, module_arguments, module_block_name,
    parsed_module_arguments, render_request,
};
use tfpilot::core::issue_form::RequestInputs;

use crate::common::{ensure, fuzz, wide_string};
use crate::issue_form::configs;

fn number() -> impl Strategy<Value = serde_json::Number> {
    let extreme = prop::sample::select(vec![
        serde_json::Number::from(i64::MIN),
        serde_json::Number::from(i64::MAX),
        serde_json::Number::from(u64::MAX),
        serde_json::Number::from(0),
    ]);
    let float = prop_oneof![
        any::<f64>(),
        prop::sample::select(vec![
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            5e-324,
            -0.0,
            1e21,
            1e-7,
            0.1,
            -1.5e300,
        ]),
    ]
    // NaN and infinities cannot be inputs; map them to 0 rather than reject the case.
    .prop_map(|f| serde_json::Number::from_f64(f).unwrap_or_else(|| 0.into()));
    prop_oneof![
        1 => extreme,
        2 => any::<i64>().prop_map(serde_json::Number::from),
        1 => any::<u64>().prop_map(serde_json::Number::from),
        2 => float,
    ]
}

fn value() -> impl Strategy<Value = InputValue> {
    prop_oneof![
        4 => wide_string(1 << 18).prop_map(InputValue::String),
        2 => number().prop_map(InputValue::Number),
        1 => any::<bool>().prop_map(InputValue::Bool),
        2 => prop::collection::vec(wide_string(4096), 0..8).prop_map(InputValue::List),
        2 => prop::collection::btree_map(wide_string(256), wide_string(4096), 0..8)
            .prop_map(InputValue::Map),
    ]
}

/// An input name: mostly the module's own, sometimes any identifier, rarely anything.
fn input_name(known: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(known),
        1 => "[A-Za-z_][A-Za-z0-9_-]{0,16}",
        1 => wide_string(64),
    ]
}

fn request_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "req_[a-z0-9-]{1,12}_[a-z0-9-]{1,12}_[a-z0-9]{6}",
        1 => "[A-Za-z0-9_-]{1,140}",
        1 => wide_string(256),
    ]
}

/// (config index, request, request id, requested by).
fn case(configs: &[RepoConfig]) -> impl Strategy<Value = (usize, RequestInputs, String, String)> {
    let configs = configs.to_vec();
    (0..configs.len()).prop_flat_map(move |ci| {
        let config = &configs[ci];
        let envs: Vec<String> = config.environments.keys().map(str::to_owned).collect();
        let modules: Vec<String> = config.modules.keys().map(str::to_owned).collect();
        let presets: Vec<String> = config.presets.keys().map(str::to_owned).collect();
        let names: Vec<String> = config
            .modules
            .iter()
            .flat_map(|(_, m)| m.inputs.keys().map(str::to_owned).collect::<Vec<_>>())
            .chain(["tags".to_owned()])
            .collect();
        let environment = prop_oneof![
            6 => prop::sample::select(envs),
            1 => wide_string(64),
        ];
        let module = prop_oneof![
            6 => prop::sample::select(modules),
            1 => wide_string(64),
        ];
        let preset = prop_oneof![
            2 => Just(None),
            2 => prop::sample::select(presets).prop_map(Some),
            1 => wide_string(64).prop_map(Some),
        ];
        let inputs = prop::collection::btree_map(input_name(names), value(), 0..10);
        let request = (environment, module, preset, inputs).prop_map(
            |(environment, module, preset, inputs)| RequestInputs {
                environment,
                module,
                preset,
                inputs,
            },
        );
        (Just(ci), request, request_id(), wide_string(1024))
    })
}

/// Whether rendering must succeed: everything it looks up exists and every name and
/// the id are ones a validated request can have.
fn renderable(config: &RepoConfig, request: &RequestInputs, id: &str) -> bool {
    let id_ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let names_ok = request
        .inputs
        .keys()
        .all(|n| is_identifier(n) && !META_ARGUMENTS.contains(&n.as_str()));
    id_ok
        && names_ok
        && config.environment(&request.environment).is_some()
        && config.module(&request.module).is_some()
}

fn check_render(
    config: &RepoConfig,
    request: &RequestInputs,
    id: &str,
    by: &str,
) -> Result<(), TestCaseError> {
    let file = match render_request(config, request, id, by) {
        Err(RenderError::RoundTrip(e)) => {
            return Err(TestCaseError::fail(format!(
                "renderer bug, round trip failed: {e}"
            )));
        }
        Err(e) => {
            return ensure(!renderable(config, request, id), || {
                format!("a renderable request was refused: {e}")
            });
        }
        Ok(file) => file,
    };
    let body = hcl::parse(&file.content)
        .map_err(|e| TestCaseError::fail(format!("output does not parse: {e}")))?;
    prop_assert_eq!(
        body.attributes().count(),
        0,
        "a value escaped the module block"
    );
    prop_assert_eq!(body.blocks().count(), 1);
    let lines: Vec<&str> = file.content.lines().collect();
    let (begin, end) = (begin_marker(id), end_marker(id));
    prop_assert_eq!(lines.first().copied(), Some(begin.as_str()));
    prop_assert_eq!(lines.last().copied(), Some(end.as_str()));
    let markers = lines
        .iter()
        .filter(|l| l.starts_with("# --- tfpilot:"))
        .count();
    prop_assert_eq!(markers, 2, "a value wrote a marker line");
    let parsed = parsed_module_arguments(&file.content, &module_block_name(id))
        .map_err(TestCaseError::fail)?;
    let arguments = module_arguments(config, request, id, by)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut want: Vec<&str> = arguments.keys().map(String::as_str).collect();
    want.push("source");
    want.sort_unstable();
    let got: Vec<&str> = parsed.keys().map(String::as_str).collect();
    prop_assert_eq!(got, want);
    Ok(())
}

#[test]
fn fuzz_hcl_render_request() {
    let configs = configs();
    fuzz(
        "hcl_render_request",
        case(&configs),
        |(ci, request, id, by)| check_render(&configs[ci], &request, &id, &by),
    );
}

#[test]
fn huge_and_control_character_values_render() {
    // The widest single values, deterministic so a regression names itself.
    let configs = configs();
    let all_controls: String = (0u32..0x20)
        .chain(0x7f..0xa0)
        .filter_map(char::from_u32)
        .collect();
    let values = [
        InputValue::String("x".repeat(1 << 20)),
        InputValue::String(all_controls.repeat(1000)),
        InputValue::String("${".repeat(100_000)),
        InputValue::String("\\".repeat(100_001)),
        InputValue::List(vec!["%{".to_owned(); 10_000]),
        InputValue::Map(
            (0..2_000)
                .map(|i| (format!("k{i}\n\"${{"), "v".repeat(i % 64)))
                .collect::<BTreeMap<_, _>>(),
        ),
        InputValue::Number(u64::MAX.into()),
        InputValue::Number(serde_json::Number::from_f64(f64::MIN_POSITIVE).expect("finite")),
    ];
    for value in values {
        let request = RequestInputs {
            environment: "prod-eu".to_owned(),
            module: "queue".to_owned(),
            preset: None,
            inputs: BTreeMap::from([("notes".to_owned(), value)]),
        };
        check_render(
            &configs[1],
            &request,
            "req_prod-eu_queue_ab12cd",
            "octocat\u{202e}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}
