//! Named, overridable parameters: every simulator rule and scenario knob is one, with its
//! documented default, so that `--set ios.n_stall=200` reruns a scenario under other
//! assumptions.
//!
//! What it is for: parsing `key=value` overrides, applying them to parameter structs
//! through [`Knob`] references, refusing unknown keys, and listing every knob with its
//! current value.
//!
//! What it must never do: hold defaults itself (each parameter struct's `Default` does) or
//! panic on bad input: a bad override is a [`KnobError`] that says what to write instead.

use std::collections::BTreeMap;
use std::time::Duration;

/// A mutable reference to one parameter, typed by how it is written on the command line.
pub enum KnobRef<'a> {
    /// Seconds, fractional allowed; `inf` for unbounded.
    Secs(&'a mut Duration),
    Count(&'a mut u64),
    Fraction(&'a mut f64),
    Flag(&'a mut bool),
    /// One of a fixed set of words.
    Choice(&'a mut &'static str, &'static [&'static str]),
}

/// One named parameter.
pub struct Knob<'a> {
    pub name: &'static str,
    pub value: KnobRef<'a>,
}

impl<'a> Knob<'a> {
    pub fn secs(name: &'static str, value: &'a mut Duration) -> Self {
        Self {
            name,
            value: KnobRef::Secs(value),
        }
    }
    pub fn count(name: &'static str, value: &'a mut u64) -> Self {
        Self {
            name,
            value: KnobRef::Count(value),
        }
    }
    pub fn fraction(name: &'static str, value: &'a mut f64) -> Self {
        Self {
            name,
            value: KnobRef::Fraction(value),
        }
    }
    pub fn flag(name: &'static str, value: &'a mut bool) -> Self {
        Self {
            name,
            value: KnobRef::Flag(value),
        }
    }

    pub fn choice(
        name: &'static str,
        value: &'a mut &'static str,
        options: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            value: KnobRef::Choice(value, options),
        }
    }

    /// The value as it would be written on the command line.
    pub fn show(&self) -> String {
        match &self.value {
            KnobRef::Secs(d) if **d == Duration::MAX => "inf".into(),
            KnobRef::Secs(d) => format!("{}", d.as_secs_f64()),
            KnobRef::Count(n) => n.to_string(),
            KnobRef::Fraction(x) => x.to_string(),
            KnobRef::Flag(b) => b.to_string(),
            KnobRef::Choice(word, _) => (**word).to_owned(),
        }
    }

    fn set(&mut self, text: &str) -> Result<(), KnobError> {
        let bad = |expected: &str| KnobError::BadValue {
            name: self.name.to_owned(),
            value: text.to_owned(),
            expected: expected.to_owned(),
        };
        match &mut self.value {
            KnobRef::Secs(d) => {
                **d = if text == "inf" {
                    Duration::MAX
                } else {
                    text.parse::<f64>()
                        .ok()
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .ok_or_else(|| bad("seconds, such as 60 or 0.5, or inf"))?
                }
            }
            KnobRef::Count(n) => **n = text.parse().map_err(|_| bad("a whole number"))?,
            KnobRef::Fraction(x) => {
                **x = text
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| bad("a non-negative number, such as 0.05"))?
            }
            KnobRef::Flag(b) => **b = text.parse().map_err(|_| bad("true or false"))?,
            KnobRef::Choice(word, options) => {
                **word = options
                    .iter()
                    .find(|option| **option == text)
                    .ok_or_else(|| bad(&format!("one of {}", options.join(", "))))?
            }
        }
        Ok(())
    }
}

/// Something with named parameters.
pub trait Knobs {
    fn knobs(&mut self) -> Vec<Knob<'_>>;
}

/// A bad `--set`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KnobError {
    #[error("--set {0}: write it as key=value, for example ios.n_stall=200")]
    NotKeyValue(String),
    #[error("--set {name}={value}: expected {expected}")]
    BadValue {
        name: String,
        value: String,
        expected: String,
    },
    #[error("unknown knob(s) {0}; `ferry-testkit scenario --list-knobs` lists them all")]
    Unknown(String),
}

/// Overrides from the command line, consumed as they are applied.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    values: BTreeMap<String, String>,
}

impl Overrides {
    /// Parses `key=value` pairs; a later pair overrides an earlier one.
    pub fn parse<S: AsRef<str>>(pairs: &[S]) -> Result<Self, KnobError> {
        let mut values = BTreeMap::new();
        for pair in pairs {
            let pair = pair.as_ref();
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| KnobError::NotKeyValue(pair.to_owned()))?;
            values.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Ok(Self { values })
    }

    /// Sets every knob of `target` that has an override, and marks it used.
    pub fn apply(&self, target: &mut dyn Knobs, used: &mut Vec<String>) -> Result<(), KnobError> {
        for mut knob in target.knobs() {
            if let Some(text) = self.values.get(knob.name) {
                knob.set(text)?;
                used.push(knob.name.to_owned());
            }
        }
        Ok(())
    }

    /// Fails if some override named no knob.
    pub fn check_all_used(&self, used: &[String]) -> Result<(), KnobError> {
        let unknown: Vec<_> = self
            .values
            .keys()
            .filter(|key| !used.iter().any(|u| u == *key))
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(KnobError::Unknown(unknown.join(", ")))
        }
    }
}

/// `name=value` for every knob of `target`, one per line.
pub fn list(target: &mut dyn Knobs) -> Vec<String> {
    target
        .knobs()
        .iter()
        .map(|knob| format!("{}={}", knob.name, knob.show()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P {
        t: Duration,
        n: u64,
        p: f64,
        b: bool,
    }
    impl Knobs for P {
        fn knobs(&mut self) -> Vec<Knob<'_>> {
            vec![
                Knob::secs("p.t", &mut self.t),
                Knob::count("p.n", &mut self.n),
                Knob::fraction("p.p", &mut self.p),
                Knob::flag("p.b", &mut self.b),
            ]
        }
    }

    #[test]
    fn overrides_set_typed_values_and_refuse_unknown_or_bad_ones() {
        let mut p = P {
            t: Duration::from_secs(1),
            n: 1,
            p: 0.5,
            b: false,
        };
        let o = Overrides::parse(&["p.t=inf", "p.n=7", "p.p=0.25", "p.b=true", "x.y=1"]).unwrap();
        let mut used = Vec::new();
        o.apply(&mut p, &mut used).unwrap();
        assert_eq!((p.t, p.n, p.p, p.b), (Duration::MAX, 7, 0.25, true));
        assert_eq!(
            o.check_all_used(&used),
            Err(KnobError::Unknown("x.y".into()))
        );
        assert!(matches!(
            Overrides::parse(&["p.n=seven"])
                .unwrap()
                .apply(&mut p, &mut Vec::new()),
            Err(KnobError::BadValue { .. })
        ));
        assert!(matches!(
            Overrides::parse(&["p.n"]),
            Err(KnobError::NotKeyValue(_))
        ));
        assert_eq!(list(&mut p)[0], "p.t=inf");
    }
}
