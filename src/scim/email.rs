//! The one email-address rule: what the import, the admin API and SCIM call an email address.
//! The import and the admin API refuse what fails it; SCIM keeps it (an identity provider's
//! directory is what it is) and notes it.
//!
//! A practical rule, not RFC 5321's full grammar: no quoted local parts, no comments, no IP
//! literals, which no directory sends and which mostly show a broken file instead.
//! - exactly one `@`, at most 254 characters in all;
//! - the local part: 1 to 64 characters, no whitespace, no control character, no `"` and
//!   none of RFC 5322's other specials `( ) , : ; < > [ \ ]`, no dot first, last or twice in
//!   a row;
//! - the domain: at least two labels separated by dots, each 1 to 63 letters (Unicode
//!   letters too, so an IDN may be written as itself), digits and hyphens, not starting or
//!   ending with a hyphen.

/// Characters RFC 5322 reserves, which an unquoted local part cannot hold.
const SPECIALS: &[char] = &['(', ')', ',', ':', ';', '<', '>', '[', '\\', ']', '"'];

/// Checks an address; the error says, in a few words, what is wrong with it.
pub fn check(addr: &str) -> Result<(), &'static str> {
    if addr.is_empty() {
        return Err("it is empty");
    }
    if addr.chars().count() > 254 {
        return Err("it is longer than 254 characters");
    }
    let Some((local, domain)) = addr.split_once('@') else {
        return Err("it has no '@'");
    };
    if domain.contains('@') {
        return Err("it has more than one '@'");
    }
    check_local(local)?;
    check_domain(domain)
}

fn check_local(local: &str) -> Result<(), &'static str> {
    if local.is_empty() {
        return Err("nothing comes before the '@'");
    }
    if local.chars().count() > 64 {
        return Err("the part before the '@' is longer than 64 characters");
    }
    if local.contains(char::is_whitespace) {
        return Err("it holds whitespace");
    }
    if local.contains(char::is_control) {
        return Err("it holds a control character");
    }
    if local.contains('"') {
        return Err("it holds a quote");
    }
    if local.contains(SPECIALS) {
        return Err("the part before the '@' holds one of ( ) , : ; < > [ \\ ]");
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err("the part before the '@' starts or ends with a dot");
    }
    if local.contains("..") {
        return Err("the part before the '@' has two dots in a row");
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Err("nothing comes after the '@'");
    }
    if !domain.contains('.') {
        return Err("the domain has no dot");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("the domain has an empty label (a dot first, last or twice in a row)");
        }
        if label.chars().count() > 63 {
            return Err("a label of the domain is longer than 63 characters");
        }
        if !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return Err("the domain holds a character other than letters, digits, '-' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label of the domain starts or ends with a hyphen");
        }
    }
    Ok(())
}

/// An address as a note or a message quotes it: short, and without control characters.
pub fn quoted(addr: &str) -> String {
    const MAX: usize = 80;
    let shown: String = addr
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if addr.chars().count() > MAX {
        format!("'{shown}…'")
    } else {
        format!("'{shown}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn practical_addresses_pass() {
        for ok in [
            "first.last+tag@sub.example.co.uk",
            "a@b.co",
            "o'brien@example.ie",
            "x_y-z!#$%&*/=?^`{|}~@example.com",
            "jörg@müller.de",
            "user@xn--mller-kva.de",
            "1@2.3",
            &format!("{}@example.com", "l".repeat(64)),
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn broken_addresses_fail_with_a_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("x@", "after the '@'"),
            ("@x", "before the '@'"),
            ("@x.com", "before the '@'"),
            ("q\"uote@example.com", "quote"),
            ("a b@example.com", "whitespace"),
            ("a\tb@example.com", "whitespace"),
            ("a\u{7}b@example.com", "control"),
            ("plain", "no '@'"),
            ("a@b@example.com", "more than one"),
            ("a@localhost", "no dot"),
            (".a@example.com", "dot"),
            ("a.@example.com", "dot"),
            ("a..b@example.com", "two dots"),
            ("a@example..com", "empty label"),
            ("a@example.com.", "empty label"),
            ("a@.example.com", "empty label"),
            ("a@-example.com", "hyphen"),
            ("a@example-.com", "hyphen"),
            ("a@exa_mple.com", "other than"),
            ("bad@example.com,bad,Ba\"d", "other than"),
            ("a,b@example.com", "( )"),
            ("<a@example.com>", "( )"),
            ("a@[127.0.0.1]", "other than"),
        ] {
            let e = check(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        let long_local = format!("{}@example.com", "l".repeat(65));
        assert!(check(&long_local).is_err());
        let long_label = format!("a@{}.com", "d".repeat(64));
        assert!(check(&long_label).is_err());
        let long = format!("a@{}.com", vec!["d".repeat(60); 5].join("."));
        assert_eq!(check(&long), Err("it is longer than 254 characters"));
    }

    #[test]
    fn quoting_is_short_and_printable() {
        assert_eq!(quoted("x@"), "'x@'");
        assert_eq!(quoted("a\nb"), "'a\u{fffd}b'");
        assert!(quoted(&"x".repeat(500)).chars().count() < 90);
    }
}
