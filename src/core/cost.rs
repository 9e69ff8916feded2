//! Infracost's JSON output (`infracost diff|breakdown --format json`, the
//! `infracost-diff.json` a plan artifact may hold): monthly cost before → after
//! and the delta.
//!
//! Every cost in that format is a decimal string or `null`; hourly costs carry
//! about 20 significant digits. They are read as exact decimals ([`Amount`]),
//! never as floats, so sums and differences are exact. Older Infracost
//! versions have no top-level `pastTotalMonthlyCost`/`diffTotalMonthlyCost`;
//! then the per-project values are summed.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an Infracost file could not be read. Positions only, no content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// Not valid JSON.
    #[error("infracost JSON is not valid JSON (line {line}, column {column})")]
    NotJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
    },
    /// Valid JSON with fields of the wrong type.
    #[error("infracost JSON does not have the expected shape (line {line}, column {column})")]
    Shape {
        /// 1-based line where the unexpected value starts.
        line: usize,
        /// 1-based column where the unexpected value starts.
        column: usize,
    },
    /// A cost that is not a plain decimal number.
    #[error("infracost JSON has a cost that is not a decimal number in {field}")]
    InvalidAmount {
        /// Which field, e.g. `totalMonthlyCost` or `projects[1].diff.totalMonthlyCost`.
        field: String,
    },
    /// A sum or difference beyond 38 significant digits.
    #[error("infracost costs are too large to add up exactly")]
    Overflow,
}

/// An exact decimal amount: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    mantissa: i128,
    scale: u32,
}

/// Most fractional digits accepted; Infracost uses about 20.
const MAX_SCALE: u32 = 30;

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount {
        mantissa: 0,
        scale: 0,
    };

    /// Parse a plain decimal (`742.64`, `-0.5`, `0`); no exponent, no separators.
    pub fn parse(s: &str) -> Option<Amount> {
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let scale = u32::try_from(frac.len()).ok().filter(|s| *s <= MAX_SCALE)?;
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(b - b'0'))?;
        }
        if negative {
            mantissa = -mantissa;
        }
        Some(Amount { mantissa, scale }.normalized())
    }

    fn normalized(mut self) -> Amount {
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    fn rescaled(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    /// Exact sum, `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        let scale = self.scale.max(other.scale);
        let m = self.rescaled(scale)?.checked_add(other.rescaled(scale)?)?;
        Some(Amount { mantissa: m, scale }.normalized())
    }

    /// Exact difference, `None` on overflow.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.checked_add(Amount {
            mantissa: other.mantissa.checked_neg()?,
            scale: other.scale,
        })
    }

    /// Sign of the amount.
    pub fn signum(self) -> Ordering {
        self.mantissa.cmp(&0)
    }

    /// Rounded to `places` decimals, half away from zero (for display).
    pub fn round(self, places: u32) -> Amount {
        if self.scale <= places {
            return self;
        }
        let Some(divisor) = 10i128.checked_pow(self.scale - places) else {
            return Amount::ZERO;
        };
        let q = self.mantissa / divisor;
        let r = self.mantissa % divisor;
        let q = if r.unsigned_abs() * 2 >= divisor.unsigned_abs() {
            q + self.mantissa.signum()
        } else {
            q
        };
        Amount {
            mantissa: q,
            scale: places,
        }
        .normalized()
    }

    /// Fixed number of decimals, e.g. `"742.60"` for `to_fixed(2)`.
    pub fn to_fixed(self, places: u32) -> String {
        let r = self.round(places);
        let Some(m) = r.rescaled(places) else {
            return r.to_string();
        };
        let digits = m.unsigned_abs().to_string();
        let sign = if m < 0 { "-" } else { "" };
        if places == 0 {
            return format!("{sign}{digits}");
        }
        let width = places as usize + 1;
        let padded = format!("{digits:0>width$}");
        let (int, frac) = padded.split_at(padded.len() - places as usize);
        format!("{sign}{int}.{frac}")
    }
}

impl PartialEq for Amount {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.normalized(), other.normalized());
        a.mantissa == b.mantissa && a.scale == b.scale
    }
}

impl Eq for Amount {}

impl fmt::Display for Amount {
    /// Shortest exact form: `742.64`, `0`, `-12.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.normalized();
        let digits = n.mantissa.unsigned_abs().to_string();
        let sign = if n.mantissa < 0 { "-" } else { "" };
        if n.scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let width = n.scale as usize + 1;
        let padded = format!("{digits:0>width$}");
        let (int, frac) = padded.split_at(padded.len() - n.scale as usize);
        write!(f, "{sign}{int}.{frac}")
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Amount::parse(&s).ok_or_else(|| serde::de::Error::custom("not a decimal amount"))
    }
}

/// Whether the monthly cost goes up, down or stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Costs more per month.
    Increase,
    /// Costs less per month.
    Decrease,
    /// Same monthly cost.
    Unchanged,
}

/// Where the totals came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalsSource {
    /// Infracost's own top-level totals.
    TopLevel,
    /// Summed from the projects (older Infracost without top-level past/diff).
    SummedProjects,
}

/// An error Infracost reported for a project (its cost may be incomplete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectError {
    /// Infracost's error code, e.g. 102.
    pub code: Option<i64>,
    /// Infracost's message, shortened.
    pub message: Option<String>,
}

/// Monthly costs of one Infracost project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCost {
    /// Project name (usually its path).
    pub name: String,
    /// Monthly cost before the change.
    pub before: Option<Amount>,
    /// Monthly cost after the change.
    pub after: Option<Amount>,
    /// After minus before.
    pub delta: Option<Amount>,
    /// Errors Infracost reported for it.
    pub errors: Vec<ProjectError>,
}

/// The monthly cost estimate of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostEstimate {
    /// ISO currency code (`USD` when the file names none).
    pub currency: String,
    /// Monthly cost before the change (`None` when Infracost did not know).
    pub before: Option<Amount>,
    /// Monthly cost after the change.
    pub after: Option<Amount>,
    /// After minus before.
    pub delta: Option<Amount>,
    /// Where the totals came from.
    pub source: TotalsSource,
    /// Per project.
    pub projects: Vec<ProjectCost>,
}

impl CostEstimate {
    /// Read Infracost JSON.
    pub fn from_json(text: &str) -> Result<CostEstimate, CostError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let raw: RawOutput = serde_json::from_str(text).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            match e.classify() {
                serde_json::error::Category::Data => CostError::Shape { line, column },
                _ => CostError::NotJson { line, column },
            }
        })?;
        let mut projects = Vec::new();
        for (i, p) in raw.projects.iter().enumerate() {
            let field = |part: &str| format!("projects[{i}].{part}.totalMonthlyCost");
            let before = amount(
                p.past_breakdown
                    .as_ref()
                    .and_then(|b| b.total_monthly_cost.as_deref()),
                || field("pastBreakdown"),
            )?;
            let after = amount(
                p.breakdown
                    .as_ref()
                    .and_then(|b| b.total_monthly_cost.as_deref()),
                || field("breakdown"),
            )?;
            let delta = amount(
                p.diff
                    .as_ref()
                    .and_then(|b| b.total_monthly_cost.as_deref()),
                || field("diff"),
            )?;
            let errors = p
                .metadata
                .as_ref()
                .map(|m| {
                    m.errors
                        .iter()
                        .map(|e| ProjectError {
                            code: e.code,
                            message: e.message.as_deref().map(|m| m.chars().take(300).collect()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            projects.push(ProjectCost {
                name: p.name.clone().unwrap_or_default(),
                before,
                after,
                delta: delta.or(diff(after, before)?),
                errors,
            });
        }
        let top =
            |v: &Option<Option<String>>, name: &str| -> Result<Option<Option<Amount>>, CostError> {
                match v {
                    None => Ok(None),
                    Some(s) => Ok(Some(amount(s.as_deref(), || name.to_owned())?)),
                }
            };
        let top_before = top(&raw.past_total_monthly_cost, "pastTotalMonthlyCost")?;
        let top_after = top(&raw.total_monthly_cost, "totalMonthlyCost")?;
        let top_delta = top(&raw.diff_total_monthly_cost, "diffTotalMonthlyCost")?;
        let source = if top_before.is_some() && top_delta.is_some() {
            TotalsSource::TopLevel
        } else {
            TotalsSource::SummedProjects
        };
        let sum = |pick: fn(&ProjectCost) -> Option<Amount>| -> Result<Option<Amount>, CostError> {
            let mut total: Option<Amount> = None;
            for v in projects.iter().filter_map(pick) {
                total = Some(
                    total
                        .unwrap_or(Amount::ZERO)
                        .checked_add(v)
                        .ok_or(CostError::Overflow)?,
                );
            }
            Ok(total)
        };
        let before = match top_before {
            Some(v) => v,
            None => sum(|p| p.before)?,
        };
        let after = match top_after {
            Some(v) => v,
            None => sum(|p| p.after)?,
        };
        let delta = match top_delta {
            Some(v) => v,
            None => match sum(|p| p.delta)? {
                Some(d) => Some(d),
                None => diff(after, before)?,
            },
        };
        Ok(CostEstimate {
            currency: raw
                .currency
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "USD".into()),
            before,
            after,
            delta,
            source,
            projects,
        })
    }

    /// Whether the monthly cost goes up, down or stays (`None` when unknown).
    pub fn direction(&self) -> Option<Direction> {
        self.delta.map(|d| match d.signum() {
            Ordering::Greater => Direction::Increase,
            Ordering::Less => Direction::Decrease,
            Ordering::Equal => Direction::Unchanged,
        })
    }

    /// Whether any project reported an error (the totals may be incomplete).
    pub fn has_errors(&self) -> bool {
        self.projects.iter().any(|p| !p.errors.is_empty())
    }
}

fn amount(s: Option<&str>, field: impl FnOnce() -> String) -> Result<Option<Amount>, CostError> {
    match s {
        None => Ok(None),
        Some(s) => Amount::parse(s)
            .map(Some)
            .ok_or_else(|| CostError::InvalidAmount { field: field() }),
    }
}

fn diff(after: Option<Amount>, before: Option<Amount>) -> Result<Option<Amount>, CostError> {
    match (after, before) {
        (Some(a), Some(b)) => a.checked_sub(b).map(Some).ok_or(CostError::Overflow),
        _ => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOutput {
    #[serde(default)]
    currency: Option<String>,
    // Outer Option: key present; inner: null.
    #[serde(default, deserialize_with = "present")]
    total_monthly_cost: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    past_total_monthly_cost: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    diff_total_monthly_cost: Option<Option<String>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    projects: Vec<RawProject>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProject {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    past_breakdown: Option<RawBreakdown>,
    #[serde(default)]
    breakdown: Option<RawBreakdown>,
    #[serde(default)]
    diff: Option<RawBreakdown>,
    #[serde(default)]
    metadata: Option<RawProjectMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBreakdown {
    #[serde(default)]
    total_monthly_cost: Option<String>,
}

#[derive(Deserialize)]
struct RawProjectMetadata {
    #[serde(default, deserialize_with = "null_as_empty")]
    errors: Vec<RawProjectError>,
}

#[derive(Deserialize)]
struct RawProjectError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amt(s: &str) -> Amount {
        Amount::parse(s).expect("amount")
    }

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(amt("742.640").to_string(), "742.64");
        assert_eq!(amt("-0.0").to_string(), "0");
        assert_eq!(amt(".5").to_string(), "0.5");
        assert_eq!(
            amt("1.017315068493150679")
                .checked_add(amt("0.000000000000000001"))
                .map(|a| a.to_string()),
            Some("1.01731506849315068".into())
        );
        // 0.1 + 0.2 is exactly 0.3 here, unlike f64.
        assert_eq!(amt("0.1").checked_add(amt("0.2")), Some(amt("0.3")));
        assert_eq!(amt("742.64").checked_sub(amt("1000")), Some(amt("-257.36")));
        for bad in ["", "-", "1e5", "1,000", "abc", "1.2.3", "NaN", " 1"] {
            assert!(Amount::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn rounding_for_display() {
        assert_eq!(amt("1361.3075").to_fixed(2), "1361.31");
        assert_eq!(amt("-0.005").to_fixed(2), "-0.01");
        assert_eq!(amt("742.6").to_fixed(2), "742.60");
        assert_eq!(amt("0.004").to_fixed(2), "0.00");
        assert_eq!(amt("5").to_fixed(0), "5");
    }

    #[test]
    fn top_level_totals_win() {
        let c = CostEstimate::from_json(
            r#"{"currency":"EUR","pastTotalMonthlyCost":"10","totalMonthlyCost":"12.5","diffTotalMonthlyCost":"2.5",
                "projects":[{"name":"p","pastBreakdown":{"totalMonthlyCost":"10"},"breakdown":{"totalMonthlyCost":"12.5"},"diff":{"totalMonthlyCost":"2.5"}}]}"#,
        )
        .expect("cost");
        assert_eq!(c.currency, "EUR");
        assert_eq!(
            (c.before, c.after, c.delta),
            (Some(amt("10")), Some(amt("12.5")), Some(amt("2.5")))
        );
        assert_eq!(c.source, TotalsSource::TopLevel);
        assert_eq!(c.direction(), Some(Direction::Increase));
    }

    #[test]
    fn older_shape_sums_projects() {
        let c = CostEstimate::from_json(
            r#"{"totalMonthlyCost":"30.05","projects":[
                {"name":"a","pastBreakdown":{"totalMonthlyCost":"20.1"},"breakdown":{"totalMonthlyCost":"10.05"},"diff":{"totalMonthlyCost":"-10.05"}},
                {"name":"b","pastBreakdown":{"totalMonthlyCost":"0"},"breakdown":{"totalMonthlyCost":"20"}}]}"#,
        )
        .expect("cost");
        assert_eq!(c.source, TotalsSource::SummedProjects);
        assert_eq!(c.currency, "USD");
        assert_eq!(c.before, Some(amt("20.1")));
        assert_eq!(c.after, Some(amt("30.05")));
        // b has no diff: after - before fills it in, then the sum.
        assert_eq!(c.projects[1].delta, Some(amt("20")));
        assert_eq!(c.delta, Some(amt("9.95")));
        assert_eq!(c.direction(), Some(Direction::Increase));
    }

    #[test]
    fn nulls_are_unknown_not_zero() {
        let c = CostEstimate::from_json(
            r#"{"pastTotalMonthlyCost":null,"totalMonthlyCost":null,"diffTotalMonthlyCost":null,"projects":null}"#,
        )
        .expect("cost");
        assert_eq!((c.before, c.after, c.delta), (None, None, None));
        assert_eq!(c.direction(), None);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            CostEstimate::from_json("nope").unwrap_err(),
            CostError::NotJson { .. }
        ));
        assert!(matches!(
            CostEstimate::from_json(r#"{"totalMonthlyCost":12}"#).unwrap_err(),
            CostError::Shape { .. }
        ));
        assert_eq!(
            CostEstimate::from_json(r#"{"totalMonthlyCost":"12 USD"}"#).unwrap_err(),
            CostError::InvalidAmount {
                field: "totalMonthlyCost".into()
            }
        );
    }
}
