//! Uploaded files: the name a stored file is shown and downloaded under (`sanitize_name`), and its
//! content type told from its first bytes (`sniff`). Files are stored under their SHA-256, never
//! under the client's name, so the name only has to be safe to show and to save on any system.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// How many leading bytes `sniff` looks at; callers pass at most that.
pub const SNIFF_BYTES: usize = 512;

/// The longest name, in bytes of UTF-8, that common file systems accept.
const MAX_NAME_BYTES: usize = 255;

/// An extension longer than this is part of the name, not worth keeping when the name is cut.
const MAX_EXTENSION_BYTES: usize = 32;

/// The name shown when nothing usable is left of the client's.
const FALLBACK_NAME: &str = "file";

/// The name a stored file is shown and downloaded under, from the name its client gave.
///
/// MIME encoded-words (RFC 2047) and RFC 5987 `charset'lang'value` forms are decoded once; then
/// the last path component is kept, control and bidi override characters are removed, edges are
/// trimmed, whitespace is collapsed, characters Windows or macOS refuse become `_`, Windows device
/// names get a `_` prefix, and the result is bounded to 255 bytes keeping the extension.
/// Never empty, never `.` or `..`, and `sanitize_name(&sanitize_name(x)) == sanitize_name(x)`.
pub fn sanitize_name(raw: &str) -> String {
    let decoded = decode_ext_value(raw).unwrap_or_else(|| decode_encoded_words(raw));
    let last = decoded.rsplit(['/', '\\']).find(|part| !part.is_empty()).unwrap_or_default();
    let visible: String = last.chars().filter(|c| !is_hidden_hazard(*c)).collect();
    let collapsed = collapse_whitespace(&visible);
    let trimmed = collapsed.trim_matches(is_edge_junk);
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        return FALLBACK_NAME.to_owned();
    }
    let portable: String =
        trimmed.chars().map(|c| if is_refused_by_windows(c) { '_' } else { c }).collect();
    let named = if is_windows_device_name(&portable) { format!("_{portable}") } else { portable };
    let bounded = bound_keeping_extension(&named);
    // Cleaning can uncover an RFC 5987 form ("%20utf-8''x" loses its leading space); decoding it
    // on a second call would break idempotence, so it is made literal.
    if decode_ext_value(&bounded).is_some() {
        return bounded.replacen('\'', "_", 1);
    }
    bounded
}

/// Control characters (C0, DEL, C1) and bidi overrides, isolates and marks, which can make
/// `evil\u{202E}fdp.exe` display as `evilexe.pdf`.
fn is_hidden_hazard(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// What may not start or end a name: spaces and dots (Windows drops them, and a leading dot hides
/// a file on Unix) and zero-width characters (invisible, so a name could look empty).
fn is_edge_junk(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '.' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn is_refused_by_windows(c: char) -> bool {
    matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c.is_whitespace() {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// Windows opens a device, not a file, for these names, with or without an extension.
fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => ["COM", "LPT"].iter().any(|device| {
            upper.strip_prefix(device).is_some_and(|n| {
                matches!(n, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9")
                    || matches!(n, "\u{B9}" | "\u{B2}" | "\u{B3}")
            })
        }),
    }
}

/// Cuts `name` to `MAX_NAME_BYTES` on a character boundary, keeping a short extension.
fn bound_keeping_extension(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let (stem, extension) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => {
            name.split_at_checked(dot).unwrap_or((name, ""))
        }
        _ => (name, ""),
    };
    let stem =
        cut_on_char_boundary(stem, MAX_NAME_BYTES - extension.len()).trim_end_matches(is_edge_junk);
    format!("{stem}{extension}")
}

fn cut_on_char_boundary(s: &str, max_bytes: usize) -> &str {
    let end =
        s.char_indices().map(|(i, c)| i + c.len_utf8()).take_while(|end| *end <= max_bytes).last();
    s.get(..end.unwrap_or(0)).unwrap_or_default()
}

/// The character sets a client's name may be declared in; others are left as literal text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Charset {
    Utf8,
    Ascii,
    Latin1,
}

impl Charset {
    /// Parses a charset label; an RFC 2231 language suffix (`UTF-8*en`) is ignored.
    fn parse(label: &str) -> Option<Charset> {
        let label = label.split('*').next().unwrap_or_default();
        let is = |name: &str| label.eq_ignore_ascii_case(name);
        if is("utf-8") || is("utf8") {
            Some(Charset::Utf8)
        } else if is("us-ascii") || is("ascii") {
            Some(Charset::Ascii)
        } else if is("iso-8859-1") || is("latin1") || is("latin-1") {
            Some(Charset::Latin1)
        } else {
            None
        }
    }

    fn decode(self, bytes: Vec<u8>) -> Option<String> {
        match self {
            Charset::Utf8 => String::from_utf8(bytes).ok(),
            Charset::Ascii => {
                bytes.is_ascii().then(|| bytes.iter().map(|b| char::from(*b)).collect())
            }
            Charset::Latin1 => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        }
    }
}

/// Decodes an RFC 5987 / RFC 2231 `charset'lang'percent-encoded` value, or `None` when `s` is not
/// one (or is a badly encoded one, which then stays literal).
fn decode_ext_value(s: &str) -> Option<String> {
    let (charset, rest) = s.split_once('\'')?;
    let (language, value) = rest.split_once('\'')?;
    let charset = Charset::parse(charset)?;
    if !language.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let mut bytes = Vec::with_capacity(value.len());
    let mut input = value.bytes();
    while let Some(b) = input.next() {
        match b {
            b'%' => bytes.push(hex_pair(input.next()?, input.next()?)?),
            b'!'..=b'~' => bytes.push(b),
            _ => return None,
        }
    }
    charset.decode(bytes)
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    Some((digit(high)? << 4) | digit(low)?)
}

/// Adjacent encoded-words in one charset, decoded together because some clients split a character's
/// bytes across words.
struct Run {
    charset: Charset,
    bytes: Vec<u8>,
    /// The words as written, put back when the bytes are not valid in the charset.
    raw: String,
}

/// Decodes the RFC 2047 encoded-words (`=?charset?B|Q?text?=`) in `s`; whitespace between two
/// words is dropped, and words that do not decode stay as written.
fn decode_encoded_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run: Option<Run> = None;
    let mut rest = s;
    while let Some((before, from)) = rest.find("=?").and_then(|start| rest.split_at_checked(start))
    {
        let Some((word, after)) = parse_encoded_word(from) else {
            flush(run.take(), &mut out);
            out.push_str(before);
            out.push_str("=?");
            rest = from.get(2..).unwrap_or_default();
            continue;
        };
        match run.as_mut() {
            Some(current) if before.chars().all(char::is_whitespace) => {
                current.raw.push_str(before);
                if current.charset != word.charset {
                    flush(run.take(), &mut out);
                }
            }
            _ => {
                flush(run.take(), &mut out);
                out.push_str(before);
            }
        }
        let current = run.get_or_insert_with(|| Run {
            charset: word.charset,
            bytes: Vec::new(),
            raw: String::new(),
        });
        current.bytes.extend(word.bytes);
        current.raw.push_str(word.raw);
        rest = after;
    }
    flush(run, &mut out);
    out.push_str(rest);
    out
}

fn flush(run: Option<Run>, out: &mut String) {
    if let Some(run) = run {
        match run.charset.decode(run.bytes) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&run.raw),
        }
    }
}

/// One RFC 2047 encoded-word, its transfer encoding undone.
struct EncodedWord<'a> {
    charset: Charset,
    bytes: Vec<u8>,
    /// The word as written.
    raw: &'a str,
}

/// Parses the encoded-word `s` starts with, and returns it with what follows it.
fn parse_encoded_word(s: &str) -> Option<(EncodedWord<'_>, &str)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    // The text ends at the next `?`, which must open `?=`: no scan past it, so parsing stays linear.
    let (text, inner) = inner.split_once('?')?;
    let after = inner.strip_prefix('=')?;
    if charset.is_empty()
        || charset.contains(char::is_whitespace)
        || text.contains(char::is_whitespace)
    {
        return None;
    }
    let charset = Charset::parse(charset)?;
    let bytes = match encoding {
        "B" | "b" => lenient_base64().decode(text).ok()?,
        "Q" | "q" => decode_q(text)?,
        _ => return None,
    };
    let raw = s.get(..s.len() - after.len())?;
    Some((EncodedWord { charset, bytes, raw }, after))
}

fn lenient_base64() -> GeneralPurpose {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    GeneralPurpose::new(&alphabet::STANDARD, config)
}

/// RFC 2047 "Q": quoted-printable where `_` is a space.
fn decode_q(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(b) = input.next() {
        match b {
            b'=' => bytes.push(hex_pair(input.next()?, input.next()?)?),
            b'_' => bytes.push(b' '),
            b'!'..=b'~' => bytes.push(b),
            _ => return None,
        }
    }
    Some(bytes)
}

/// The content type of a file from its first bytes (at most `SNIFF_BYTES` are read).
///
/// Never an HTML, SVG, XML or JavaScript type: such files are `text/plain`, so that nothing a
/// client uploads is served as active content.
pub fn sniff(bytes: &[u8]) -> &'static str {
    let sample = bytes.get(..SNIFF_BYTES).unwrap_or(bytes);
    let at = |offset: usize, magic: &[u8]| {
        sample.get(offset..offset + magic.len()).is_some_and(|window| window == magic)
    };
    if at(0, b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if at(0, b"\xFF\xD8\xFF") {
        "image/jpeg"
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        "image/gif"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if at(0, b"%PDF-") {
        "application/pdf"
    } else if at(0, b"PK\x03\x04") || at(0, b"PK\x05\x06") || at(0, b"PK\x07\x08") {
        // Also docx, xlsx, odt, jar...: named for the container, which is what the bytes prove.
        "application/zip"
    } else if at(0, b"\x1F\x8B") {
        "application/gzip"
    } else if at(4, b"ftyp") {
        iso_media_type(sample.get(8..12).unwrap_or_default())
    } else if at(0, b"OggS\0") {
        "audio/ogg"
    } else if at(0, b"\x1A\x45\xDF\xA3") {
        if sample.get(..64).unwrap_or(sample).windows(4).any(|window| window == b"webm") {
            "video/webm"
        } else {
            "video/x-matroska"
        }
    } else if at(0, b"II*\0") || at(0, b"MM\0*") {
        "image/tiff"
    } else if at(0, b"BM") && at(6, b"\0\0\0\0") {
        "image/bmp"
    } else if at(0, b"\0\0\x01\0") && sample.get(4..6).is_some_and(|count| count != b"\0\0") {
        "image/x-icon"
    } else if at(0, b"ID3") && sample.get(3).is_some_and(|major| (2..=4).contains(major)) {
        "audio/mpeg"
    } else if let Some(audio) = mpeg_audio_frame(sample) {
        audio
    } else if is_utf8_text(sample) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// ISO base media files (`ftyp` box) by major brand: M4A audio, HEIF images, QuickTime, else MP4.
fn iso_media_type(brand: &[u8]) -> &'static str {
    match brand {
        b"M4A " | b"M4B " | b"M4P " => "audio/mp4",
        b"avif" | b"avis" => "image/avif",
        b"heic" | b"heix" => "image/heic",
        b"mif1" | b"msf1" => "image/heif",
        b"qt  " => "video/quicktime",
        _ => "video/mp4",
    }
}

/// An MPEG audio frame header without ID3 tag: 11 sync bits, then a version, layer, bitrate and
/// sample rate that are not the reserved values (which keeps noise from matching by chance); or
/// an AAC ADTS header: 12 sync bits and layer `00`.
fn mpeg_audio_frame(sample: &[u8]) -> Option<&'static str> {
    let &[0xFF, second, third, ..] = sample else { return None };
    if second & 0xF6 == 0xF0 {
        return Some("audio/aac");
    }
    let sync = second & 0xE0 == 0xE0;
    let version_ok = (second >> 3) & 0b11 != 0b01;
    // Layer II or III; layer I is rare, and its `FF FE` is also the UTF-16 little-endian BOM.
    let layer_ok = matches!((second >> 1) & 0b11, 0b01 | 0b10);
    let bitrate_ok = third >> 4 != 0b1111;
    let rate_ok = (third >> 2) & 0b11 != 0b11;
    (sync && version_ok && layer_ok && bitrate_ok && rate_ok).then_some("audio/mpeg")
}

/// Valid UTF-8 without NUL; a character cut by the end of the sample still counts.
fn is_utf8_text(sample: &[u8]) -> bool {
    let valid = match std::str::from_utf8(sample) {
        Ok(text) => text.as_bytes(),
        Err(error) if error.error_len().is_none() => {
            sample.get(..error.valid_up_to()).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !valid.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_only_the_last_path_component() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("C:\\Users\\x\\a.txt"), "a.txt");
        assert_eq!(sanitize_name("reports/2024/"), "2024");
        assert_eq!(sanitize_name("a/.."), "file");
    }

    #[test]
    fn decodes_mime_encoded_words() {
        assert_eq!(sanitize_name("=?UTF-8?B?w6lsw6h2ZS5wZGY=?="), "élève.pdf");
        assert_eq!(sanitize_name("=?UTF-8?Q?caf=C3=A9.txt?="), "café.txt");
        assert_eq!(sanitize_name("=?utf-8?q?my_notes.txt?="), "my notes.txt");
        assert_eq!(
            sanitize_name("=?UTF-8?B?w6lsw6h2ZS5wZGY?="),
            "élève.pdf",
            "padding is optional"
        );
        assert_eq!(sanitize_name("=?ISO-8859-1?Q?r=E9sum=E9.doc?="), "résumé.doc");
        assert_eq!(sanitize_name("=?US-ASCII?Q?plain.txt?="), "plain.txt");
        assert_eq!(sanitize_name("=?UTF-8*en?Q?tagged.txt?="), "tagged.txt");
    }

    #[test]
    fn joins_adjacent_encoded_words_even_across_a_split_character() {
        assert_eq!(sanitize_name("=?UTF-8?Q?caf?= =?UTF-8?Q?=C3=A9.txt?="), "café.txt");
        // "é" is C3 A9; some clients cut it between two words.
        assert_eq!(sanitize_name("=?UTF-8?Q?caf=C3?=\r\n =?UTF-8?Q?=A9.txt?="), "café.txt");
        assert_eq!(sanitize_name("=?UTF-8?Q?a?= =?ISO-8859-1?Q?=E9?="), "aé");
        assert_eq!(sanitize_name("x =?UTF-8?Q?y?= z"), "x y z");
    }

    #[test]
    fn leaves_unknown_charsets_and_bad_encodings_as_text() {
        assert_eq!(sanitize_name("=?KOI8-R?Q?x?="), "=_KOI8-R_Q_x_=");
        assert_eq!(sanitize_name("=?UTF-8?B?!!!?="), "=_UTF-8_B_!!!_=");
        assert_eq!(sanitize_name("=?UTF-8?Q?=ZZ?="), "=_UTF-8_Q_=ZZ_=");
        assert_eq!(sanitize_name("=?UTF-8?Q?=FF?="), "=_UTF-8_Q_=FF_=", "not UTF-8");
        assert_eq!(sanitize_name("=?US-ASCII?Q?=E9?="), "=_US-ASCII_Q_=E9_=");
        assert_eq!(sanitize_name("=?UTF-8?X?abc?="), "=_UTF-8_X_abc_=");
    }

    #[test]
    fn decodes_rfc_5987_values() {
        assert_eq!(sanitize_name("UTF-8''percent%20encoded"), "percent encoded");
        assert_eq!(sanitize_name("utf-8'fr'%C3%A9t%C3%A9.pdf"), "été.pdf");
        assert_eq!(sanitize_name("iso-8859-1''%E9.txt"), "é.txt");
        assert_eq!(sanitize_name("UTF-8''..%2F..%2Fetc%2Fpasswd"), "passwd");
        assert_eq!(sanitize_name("UTF-8''bad%ZZ"), "UTF-8''bad%ZZ");
        assert_eq!(sanitize_name("UTF-8''%FF"), "UTF-8''%FF");
        assert_eq!(sanitize_name("don't.txt"), "don't.txt");
    }

    #[test]
    fn a_value_uncovered_by_cleaning_is_not_decoded_later() {
        let once = sanitize_name("UTF-8''%20utf-8''x");
        assert_eq!(once, "utf-8_'x");
        assert_eq!(sanitize_name(&once), once);
    }

    #[test]
    fn removes_control_and_bidi_characters() {
        assert_eq!(sanitize_name("a\u{0}b"), "ab");
        assert_eq!(sanitize_name("a\u{7F}\u{85}\u{9F}b\n"), "ab");
        assert_eq!(sanitize_name("evil\u{202E}fdp.exe"), "evilfdp.exe");
        assert_eq!(sanitize_name("\u{2066}x\u{2069}.txt"), "x.txt");
    }

    #[test]
    fn trims_edges_and_collapses_whitespace() {
        assert_eq!(sanitize_name("  .hidden.  "), "hidden");
        assert_eq!(sanitize_name("\u{200B}\u{FEFF}name\u{200D}"), "name");
        assert_eq!(sanitize_name("a \t\u{A0}  b.txt"), "a b.txt");
        assert_eq!(sanitize_name("👩\u{200D}💻.png"), "👩\u{200D}💻.png", "inner joiners stay");
    }

    #[test]
    fn refuses_dot_names_and_falls_back_to_file() {
        for raw in ["", ".", "..", "...", "  ", "/", "\u{0}", "\u{202E}"] {
            assert_eq!(sanitize_name(raw), "file", "{raw:?}");
        }
    }

    #[test]
    fn prefixes_windows_device_names() {
        assert_eq!(sanitize_name("CON"), "_CON");
        assert_eq!(sanitize_name("nul.txt"), "_nul.txt");
        assert_eq!(sanitize_name("Com1.tar.gz"), "_Com1.tar.gz");
        assert_eq!(sanitize_name("lpt9"), "_lpt9");
        assert_eq!(sanitize_name("aux .log"), "_aux .log");
        assert_eq!(sanitize_name("console.txt"), "console.txt");
        assert_eq!(sanitize_name("COM10"), "COM10");
    }

    #[test]
    fn replaces_characters_windows_refuses() {
        assert_eq!(sanitize_name("a<b>c:d\"e|f?g*h.txt"), "a_b_c_d_e_f_g_h.txt");
    }

    #[test]
    fn bounds_to_255_bytes_keeping_the_extension() {
        let long = format!("{}.pdf", "a".repeat(400));
        let name = sanitize_name(&long);
        assert_eq!(name.len(), 255);
        assert!(name.ends_with(".pdf"));

        let wide = format!("{}.pdf", "é".repeat(200));
        let name = sanitize_name(&wide);
        assert!(name.len() <= 255 && name.ends_with(".pdf"));
        assert!(name.trim_end_matches(".pdf").chars().all(|c| c == 'é'));

        let no_extension = "b".repeat(300);
        assert_eq!(sanitize_name(&no_extension), "b".repeat(255));

        let spaced = format!("{} x.pdf", "c".repeat(250));
        assert_eq!(
            sanitize_name(&spaced),
            format!("{}.pdf", "c".repeat(250)),
            "no space before the dot"
        );
    }

    #[test]
    fn sniffs_magic_numbers() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png"),
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", "image/jpeg"),
            (b"GIF89a\x01\0", "image/gif"),
            (b"RIFF\x24\0\0\0WEBPVP8 ", "image/webp"),
            (b"RIFF\x24\0\0\0WAVEfmt ", "audio/wav"),
            (b"%PDF-1.7\n", "application/pdf"),
            (b"PK\x03\x04\x14\0\x06\0[Content_Types].xml", "application/zip"),
            (b"PK\x05\x06\0\0\0\0", "application/zip"),
            (b"\x1F\x8B\x08\0", "application/gzip"),
            (b"ID3\x04\0\0\0\0", "audio/mpeg"),
            (b"\xFF\xFB\x90\x44", "audio/mpeg"),
            (b"\xFF\xF1\x50\x80", "audio/aac"),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", "video/mp4"),
            (b"\0\0\0\x20ftypM4A \0\0\0\0", "audio/mp4"),
            (b"OggS\0\x02", "audio/ogg"),
            (b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
            (b"\x1A\x45\xDF\xA3\xA3\x42\x82\x88matroska", "video/x-matroska"),
            (b"II*\0\x08\0\0\0", "image/tiff"),
            (b"MM\0*\0\0\0\x08", "image/tiff"),
            (b"BM\x36\0\x0C\0\0\0\0\0\x36\0\0\0\x28\0", "image/bmp"),
            (b"\0\0\x01\0\x01\0\x10\x10", "image/x-icon"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff(bytes), *expected, "{bytes:?}");
        }
    }

    #[test]
    fn sniffs_text_and_falls_back_to_octet_stream() {
        assert_eq!(sniff(b"hello, world\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff("élève".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"BMW service report"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"a\0b"), "application/octet-stream");
        assert_eq!(sniff(b"\xC3\x28"), "application/octet-stream");
        assert_eq!(sniff(b"\xFF\xFE\0h"), "application/octet-stream");
    }

    #[test]
    fn a_character_cut_by_the_sample_end_is_still_text() {
        let mut text = "a".repeat(SNIFF_BYTES - 1).into_bytes();
        text.extend_from_slice("é and more".as_bytes());
        assert_eq!(sniff(&text), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"caf\xC3"), "text/plain; charset=utf-8");
    }

    #[test]
    fn active_content_is_plain_text() {
        for markup in [
            "<!DOCTYPE html><html>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\">",
            "<?xml version=\"1.0\"?>",
            "alert(1)",
        ] {
            assert_eq!(sniff(markup.as_bytes()), "text/plain; charset=utf-8");
        }
    }

    fn assert_safe(name: &str) -> Result<(), TestCaseError> {
        prop_assert!(!name.is_empty());
        prop_assert!(name != "." && name != "..");
        prop_assert!(name.len() <= MAX_NAME_BYTES);
        prop_assert!(!name.contains(['/', '\\']));
        prop_assert!(!name.chars().any(char::is_control));
        Ok(())
    }

    proptest! {
        #[test]
        fn any_string_gives_a_safe_idempotent_name(raw in any::<String>()) {
            let name = sanitize_name(&raw);
            assert_safe(&name)?;
            prop_assert_eq!(sanitize_name(&name), name);
        }

        #[test]
        fn names_built_from_hazards_are_safe_and_idempotent(
            raw in "([./\\\\ \u{0}\u{1F}\u{7F}\u{85}\u{202E}\u{2066}\u{200B}\u{200D}<>:\"|?*'%=_]|[a-zA-Z0-9]|é|CON|nul|=\\?UTF-8\\?[BQ]\\?|\\?=|UTF-8''|%C3|%A9|%2F){0,40}"
        ) {
            let name = sanitize_name(&raw);
            assert_safe(&name)?;
            prop_assert_eq!(sanitize_name(&name), name);
        }

        #[test]
        fn long_names_are_bounded_and_idempotent(stem in "[a-zé. ]{200,400}", ext in "[a-z]{1,5}") {
            let name = sanitize_name(&format!("{stem}.{ext}"));
            assert_safe(&name)?;
            prop_assert_eq!(sanitize_name(&name), name);
        }

        #[test]
        fn sniff_never_returns_active_content(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let kind = sniff(&bytes);
            for active in ["html", "xml", "svg", "javascript"] {
                prop_assert!(!kind.contains(active));
            }
        }
    }
}
