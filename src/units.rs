//! Parsing of the human units used in scripts and configs: durations (`250ms`, `5s`, `2m`)
//! and byte sizes (`16MiB`, `512M`).

use std::time::Duration;

/// Parses a duration such as `250ms`, `5s`, `1.5s`, `2m` or `1h`.
///
/// The error is a short phrase meant to follow "invalid duration".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(text);
    if number.is_empty() {
        return Err(format!(
            "invalid duration `{text}`: expected a number and a unit, such as 250ms, 5s or 2m"
        ));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration `{text}`: `{number}` is not a number"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "" => {
            return Err(format!(
                "invalid duration `{text}`: a unit is required (ms, s, m or h)"
            ));
        }
        other => {
            return Err(format!(
                "invalid duration `{text}`: unknown unit `{other}` (use ms, s, m or h)"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=1.0e9).contains(&seconds) {
        return Err(format!("invalid duration `{text}`: out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a byte size such as `16MiB`, `512M`, `64KiB`, `1G` or a plain number of bytes.
///
/// `K`, `M`, `G` and the `KiB`/`MiB`/`GiB` forms are powers of 1024; `KB`, `MB`, `GB` are
/// powers of 1000.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let (number, unit) = split_number(trimmed);
    if number.is_empty() {
        return Err(format!(
            "invalid size `{text}`: expected a number and an optional unit, such as 16MiB"
        ));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size `{text}`: `{number}` is not a number"))?;
    let multiplier: f64 = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "K" | "k" | "KiB" | "kiB" => 1024.0,
        "KB" | "kB" => 1000.0,
        "M" | "MiB" => 1024.0 * 1024.0,
        "MB" => 1.0e6,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "GB" => 1.0e9,
        other => {
            return Err(format!(
                "invalid size `{text}`: unknown unit `{other}` (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || !(0.0..=1.0e15).contains(&bytes) {
        return Err(format!("invalid size `{text}`: out of range"));
    }
    Ok(bytes as u64)
}

/// Formats a duration the way sandmux prints it in messages (`250ms`, `1.50s`).
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// Formats a byte count the way a config writes it: `1MiB`, `1.5KiB`, `100B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            let text = format!("{value:.1}");
            return format!("{}{unit}", text.trim_end_matches(".0"));
        }
    }
    format!("{bytes}B")
}

/// A duration in milliseconds that a program reported (untrusted), for people: `850ms`,
/// `1.5s`, `2m05s`, `3h20m`. `None` for a negative, non-finite or absurd value (over a
/// year), which is better left out than shown.
pub fn format_reported_ms(ms: f64) -> Option<String> {
    if !(0.0..=365.0 * 86_400_000.0).contains(&ms) {
        return None;
    }
    let secs = ms / 1000.0;
    Some(if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    })
}

fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    text.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(
            parse_duration("5")
                .unwrap_err()
                .contains("unit is required")
        );
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .contains("unknown unit `x`")
        );
        assert!(
            parse_duration("s")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(
            parse_duration("1.2.3s")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse_duration("99999999999h")
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 * 1024 * 1024);
        assert_eq!(parse_size("512M").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_size("1KB").unwrap(), 1000);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert!(parse_size("12parsecs").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn reported_durations_are_sane_or_left_out() {
        assert_eq!(format_reported_ms(850.0).as_deref(), Some("850ms"));
        assert_eq!(format_reported_ms(1500.0).as_deref(), Some("1.5s"));
        assert_eq!(format_reported_ms(125_000.0).as_deref(), Some("2m05s"));
        assert_eq!(format_reported_ms(12_000_000.0).as_deref(), Some("3h20m"));
        assert_eq!(format_reported_ms(1.79e308), None);
        assert_eq!(format_reported_ms(-5.0), None);
        assert_eq!(format_reported_ms(f64::NAN), None);
    }

    #[test]
    fn byte_counts_format_like_config_sizes() {
        assert_eq!(format_bytes(1 << 20), "1MiB");
        assert_eq!(format_bytes(1536), "1.5KiB");
        assert_eq!(format_bytes(100), "100B");
    }

    #[test]
    fn durations_format_compactly() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.50s");
    }
}
