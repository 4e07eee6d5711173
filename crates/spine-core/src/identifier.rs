//! Contact identifiers (SPEC section 6, "Identifiers"): e-mail addresses and phone numbers in
//! the one normalized spelling that inbound messages are matched by.
//!
//! - E-mail: trimmed, a `Name <addr>` form reduced to its address, the whole address lower
//!   case. Only a sanity check, not RFC 5322: one `@`, no spaces, no controls, no characters
//!   that only quoting or display forms use, at most 254 bytes.
//! - Phone: E.164 (`+14155550100`), read by the `phonenumber` crate (Google's libphonenumber
//!   metadata). A number written without `+` is read in the tenant's default [`Region`]; only
//!   numbers valid for their region are accepted. The crate strips national prefixes where it
//!   should not (see [`Identifier::phone`]); the workarounds here keep every written digit.
//!
//! Normalizing a normalized value gives it back unchanged, so stored identifiers can be passed
//! through again safely.

use phonenumber::country;
use std::fmt;
use std::str::FromStr;

/// Longest e-mail address accepted, in bytes (the SMTP path limit less the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// Longest written phone number read, in bytes: real ones, with spaces and punctuation, are a
/// few dozen; a bound keeps the parser's work small.
pub const MAX_PHONE_INPUT_LEN: usize = 64;

/// A region with no national prefix, where phonenumber reads the digits after a `+` country
/// code exactly as written (see [`Identifier::phone`]).
const NEUTRAL: country::Id = country::Id::DK;

/// A contact identifier in its normalized spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// A lower-case e-mail address: `ana@example.com`.
    Email(String),
    /// An E.164 phone number: `+14155550100`.
    Phone(String),
}

impl Identifier {
    /// An e-mail address, from `ana@example.com`, ` Ana@Example.COM ` or
    /// `Ana <ana@example.com>`.
    pub fn email(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        // `Name <addr>` (and `<addr>`): the address is what the last angle brackets hold.
        let address = match raw.strip_suffix('>').and_then(|rest| rest.rsplit_once('<')) {
            Some((_, inside)) => inside.trim(),
            None => raw,
        };
        let address = address.to_lowercase();
        if address.len() > MAX_EMAIL_LEN {
            return Err(format!("an e-mail address is at most {MAX_EMAIL_LEN} bytes"));
        }
        if address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
        {
            return Err("an e-mail address holds no spaces, controls, quotes or brackets".into());
        }
        let (local, domain) = address
            .split_once('@')
            .filter(|(_, domain)| !domain.contains('@'))
            .ok_or_else(|| "an e-mail address has exactly one @".to_owned())?;
        if local.is_empty() || local.len() > 64 {
            return Err("an e-mail address needs a name of 1 to 64 bytes before the @".into());
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err("an e-mail address needs a domain such as example.com after the @".into());
        }
        // A few characters lower-case into ones that lower-case again differently; refusing
        // them keeps normalization idempotent.
        if address.to_lowercase() != address {
            return Err("an e-mail address has no stable lower-case spelling".into());
        }
        Ok(Self::Email(address))
    }

    /// A phone number in E.164. `default_region` (ISO 3166 alpha-2, such as `US`) reads a
    /// number written without a country code; a number starting with `+` needs none.
    pub fn phone(raw: &str, default_region: Option<&str>) -> Result<Self, String> {
        let region = default_region.map(Region::parse).transpose()?;
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_PHONE_INPUT_LEN {
            return Err(format!("a phone number is 1 to {MAX_PHONE_INPUT_LEN} characters"));
        }
        // Digits and the usual punctuation only: letters (vanity numbers, `tel:` URIs and
        // extensions) are refused before the parser sees them.
        let plus_first = raw.strip_prefix('+').unwrap_or(raw);
        if !plus_first.bytes().all(|b| b.is_ascii_digit() || b" ()-./".contains(&b)) {
            return Err(
                "a phone number holds digits, spaces, ( ) - . / and a leading + only".into()
            );
        }
        if !raw.starts_with('+') && region.is_none() {
            return Err("a phone number without a + country code needs a default region".into());
        }
        let number = if raw.starts_with('+') {
            // The number carries its country. phonenumber 0.3.10 strips a national prefix
            // from it all the same (the default region's, else its own region's: `+49 151...`
            // read in US loses the 1 of 151, `+7 831...` loses the 8), so it is read first in
            // a region that has none ([`NEUTRAL`]), which keeps every written digit, and only
            // if that is not valid with its own region's prefix rules (`+44 (0)20...`).
            [Some(NEUTRAL), None]
                .into_iter()
                .filter_map(|region| phonenumber::parse(region, raw).ok())
                .find(phonenumber::is_valid)
        } else {
            phonenumber::parse(region.map(|r| r.0), raw).ok().filter(phonenumber::is_valid)
        }
        .ok_or_else(|| "not a valid phone number".to_owned())?;
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        // The same flaw strikes a number dialled with an international prefix (`011 49 151...`
        // read in US): when the country code was written, every digit written after it must
        // be in the result, or the number is refused rather than stored wrong.
        if !raw.starts_with('+') && number.code().source() != country::Source::Default {
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            if !digits.ends_with(e164.trim_start_matches('+')) {
                return Err("write this number with + and its country code".into());
            }
        }
        Ok(Self::Phone(e164))
    }

    /// An e-mail address when `raw` holds an `@`, a phone number otherwise.
    pub fn parse_any(raw: &str, default_region: Option<&str>) -> Result<Self, String> {
        if raw.contains('@') {
            Self::email(raw)
        } else {
            Self::phone(raw, default_region)
        }
    }

    /// The normalized value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(value) | Self::Phone(value) => value,
        }
    }

    /// `email` or `phone`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Email(_) => "email",
            Self::Phone(_) => "phone",
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's default region for phone numbers written without a country code: an ISO 3166
/// alpha-2 code (`US`, `GB`, `DE`) that the phone number metadata knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(country::Id);

impl Region {
    /// Parses a region code, in either case (`de` reads as `DE`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim();
        let invalid = || format!("{code:?} is not a region code such as US, GB or DE");
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid());
        }
        country::Id::from_str(&code.to_ascii_uppercase()).map(Self).map_err(|_| invalid())
    }

    /// The upper-case code.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn phone(raw: &str, region: Option<&str>) -> Result<String, String> {
        Identifier::phone(raw, region).map(|id| id.as_str().to_owned())
    }

    #[test]
    fn phone_numbers_become_e164() {
        assert_eq!(phone("+1 (415) 555-0100", None).as_deref(), Ok("+14155550100"));
        assert_eq!(phone("(415) 555-0100", Some("US")).as_deref(), Ok("+14155550100"));
        assert_eq!(phone("415.555.0100", Some("us")).as_deref(), Ok("+14155550100"));
        assert_eq!(phone("0151 23456789", Some("DE")).as_deref(), Ok("+4915123456789"));
        assert_eq!(phone("+49 151 23456789", Some("US")).as_deref(), Ok("+4915123456789"));
        assert_eq!(phone("020 7946 0018", Some("GB")).as_deref(), Ok("+442079460018"));
        // A region's international prefix is read too.
        assert_eq!(phone("00 49 151 23456789", Some("DE")).as_deref(), Ok("+4915123456789"));
        assert_eq!(phone("+39 06 1234 5678", Some("US")).as_deref(), Ok("+390612345678"));
        // Read wrongly by phonenumber 0.3.10 (`+495123456789`): refused, not stored wrong.
        assert!(phone("011 49 151 23456789", Some("US")).is_err());
        assert_eq!(phone("+7 831 000 0000", Some("US")).as_deref(), Ok("+78310000000"));
        assert_eq!(phone("00 7 831 000 0000", Some("DE")).as_deref(), Ok("+78310000000"));
        assert_eq!(phone("+44 (0)20 7946 0018", None).as_deref(), Ok("+442079460018"));
    }

    #[test]
    fn the_neutral_region_strips_nothing() {
        let meta = phonenumber::metadata::DATABASE.by_id(NEUTRAL.as_ref()).unwrap();
        assert!(meta.national_prefix().is_none());
        assert!(meta.national_prefix_for_parsing().is_none());
        assert!(meta.national_prefix_transform_rule().is_none());
    }

    #[test]
    fn invalid_phone_numbers_are_refused() {
        for (raw, region) in [
            ("", Some("US")),
            ("12", Some("US")),
            ("+1 415 555", None),
            ("(415) 555-0100", None),
            ("+1 415 555 0100 ext. 7", None),
            ("tel:+14155550100", None),
            ("1-800-FLOWERS", Some("US")),
            ("+999 123 456 789", None),
            ("+1 (415) 555-0100", Some("XX")),
            ("+1 (415) 555-0100", Some("USA")),
            ("++14155550100", None),
        ] {
            assert!(phone(raw, region).is_err(), "{raw:?} {region:?}");
        }
    }

    #[test]
    fn email_addresses_are_lower_case_addresses() {
        let email = |raw| Identifier::email(raw).map(|id| id.as_str().to_owned());
        assert_eq!(email("Ana <Ana@Example.COM>").as_deref(), Ok("ana@example.com"));
        assert_eq!(email("  ana@example.com ").as_deref(), Ok("ana@example.com"));
        assert_eq!(email("<ana+crm@mail.example.com>").as_deref(), Ok("ana+crm@mail.example.com"));
        assert_eq!(email("\"Silva, Ana\" <ana@example.com>").as_deref(), Ok("ana@example.com"));
        assert_eq!(email("JOSÉ@Exemplo.PT").as_deref(), Ok("josé@exemplo.pt"));
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@@example.com",
            "ana@b@example.com",
            "ana maria@example.com",
            "ana@example",
            "ana@example..com",
            "ana@.example.com",
            "Ana <ana@example.com",
            "ana@exa\u{0}mple.com",
            "<>",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert!(email(&long).is_err());
        assert!(email(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn any_identifier_by_its_shape() {
        let email = Identifier::parse_any("Ana@Example.com", Some("US")).unwrap();
        assert_eq!((email.kind(), email.as_str()), ("email", "ana@example.com"));
        let phone = Identifier::parse_any("(415) 555-0100", Some("US")).unwrap();
        assert_eq!((phone.kind(), phone.to_string().as_str()), ("phone", "+14155550100"));
        assert!(Identifier::parse_any("ana", Some("US")).is_err());
    }

    #[test]
    fn regions_are_known_alpha_2_codes() {
        assert_eq!(Region::parse("US").map(|r| r.to_string()).as_deref(), Ok("US"));
        assert_eq!(Region::parse(" gb ").map(|r| r.to_string()).as_deref(), Ok("GB"));
        for bad in ["", "U", "USA", "XX", "1A", "ÜS", "u s"] {
            assert!(Region::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn regions() -> impl Strategy<Value = Option<&'static str>> {
        prop::sample::select(vec![
            None,
            Some("US"),
            Some("DE"),
            Some("GB"),
            Some("IT"),
            Some("AR"),
            Some("zz"),
        ])
    }

    proptest! {
        #[test]
        fn normalizing_never_panics_and_is_idempotent(
            raw in prop_oneof![
                any::<String>(),
                "[+]?[0-9 ()./-]{0,24}",
                "[+][1-9][0-9]{6,14}",
                "(00|011) ?[1-9][0-9]{6,14}",
                "[A-Za-z ]{0,8}<?[A-Za-z0-9.+_-]{1,12}@[A-Za-z0-9.-]{1,16}>?",
            ],
            region in regions(),
        ) {
            if let Ok(id) = Identifier::parse_any(&raw, region) {
                let again = Identifier::parse_any(id.as_str(), region);
                prop_assert_eq!(again, Ok(id.clone()));
                let kind_again = match &id {
                    Identifier::Email(v) => Identifier::email(v),
                    Identifier::Phone(v) => Identifier::phone(v, None),
                };
                prop_assert_eq!(kind_again, Ok(id));
            }
        }

        #[test]
        fn valid_numbers_survive_any_formatting(
            digits in "[2-9][0-9]{2}",
            separator in prop::sample::select(vec!["", " ", "-", "."]),
        ) {
            let written = format!("(415){separator}{digits}{separator}0100");
            if let Ok(id) = Identifier::phone(&written, Some("US")) {
                prop_assert_eq!(id.as_str(), format!("+1415{digits}0100"));
            }
        }
    }
}
