//! [`ByteSize`]: a size in bytes, written in config as `2MiB`, `512kB` or a
//! plain number.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes. In config: a number of bytes, or a number with a unit
/// — `B`, `kB`, `MB`, `GB` (powers of 1000) or `KiB`, `MiB`, `GiB` (powers
/// of 1024), with or without a space.
///
/// ```
/// use micro_config::site::ByteSize;
/// assert_eq!("2MiB".parse::<ByteSize>().unwrap().bytes(), 2 * 1024 * 1024);
/// assert_eq!("512 kB".parse::<ByteSize>().unwrap().bytes(), 512_000);
/// assert_eq!(ByteSize(3 * 1024).to_string(), "3KiB");
/// assert!("2 parsecs".parse::<ByteSize>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    ///
    /// ```
    /// assert_eq!(micro_config::site::ByteSize(10).bytes(), 10);
    /// ```
    #[must_use]
    pub fn bytes(self) -> u64 {
        self.0
    }
}

const UNITS: [(&str, u64); 7] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("kB", 1_000),
    ("B", 1),
];

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(digits);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size: expected a number of bytes, or e.g. `2MiB`, `512kB`"))?;
        let unit = unit.trim();
        let factor = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, factor)| *factor)
                .ok_or_else(|| format!("`{unit}` is not a size unit: use B, kB, MB, GB, KiB, MiB or GiB"))?
        };
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, factor) = UNITS
            .iter()
            .filter(|(name, _)| name.ends_with("iB") || *name == "B")
            .find(|(_, factor)| self.0 >= *factor && self.0 % factor == 0)
            .copied()
            .unwrap_or(("B", 1));
        write!(f, "{}{name}", self.0 / factor)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a size: a number of bytes, or e.g. `2MiB`"))?
        {
            Raw::Bytes(bytes) => Ok(Self(bytes)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}
