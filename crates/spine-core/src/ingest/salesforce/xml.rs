//! A small, hostile-input-safe XML reader: the whole document as a tree of [`Element`]s.
//!
//! Built on `quick-xml`'s pull reader, which never fetches or expands anything by itself, with
//! the rules a webhook body needs on top:
//!
//! - no document type declaration at all (`<!DOCTYPE ...>` is refused), so no entity can be
//!   declared: no external entities (XXE), no entity expansion bombs;
//! - only the five predefined entities (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`) and numeric
//!   character references are resolved; any other reference is an error;
//! - at most [`MAX_BYTES`] of input, [`MAX_DEPTH`] levels of nesting and [`MAX_ELEMENTS`]
//!   elements, so work and memory stay proportional to a small input;
//! - one root element, end tags matching their start tags, UTF-8 only.

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Largest document read.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Deepest nesting of elements.
pub const MAX_DEPTH: usize = 32;
/// Most elements in a document.
pub const MAX_ELEMENTS: usize = 50_000;

/// Why a document was refused. Messages name the rule, never the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// A `<!DOCTYPE>`: refused, as are the entities it could declare.
    #[error("document type declarations are not accepted")]
    Doctype,
    /// A reference to an entity other than the five predefined ones.
    #[error("the document refers to an undeclared entity")]
    Entity,
    /// Over [`MAX_BYTES`], [`MAX_DEPTH`] or [`MAX_ELEMENTS`].
    #[error("the document is too large or too deeply nested")]
    TooLarge,
    /// Not well-formed XML (or not UTF-8).
    #[error("the body is not well-formed XML")]
    Malformed,
}

/// An element: its qualified name, attributes, text and child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The name as written, with its prefix (`sf:Id`).
    pub name: String,
    /// Attributes as `(qualified name, value)`.
    pub attributes: Vec<(String, String)>,
    /// The element's own text (character data and CDATA), references resolved.
    pub text: String,
    /// Child elements, in order.
    pub children: Vec<Element>,
}

impl Element {
    /// The name without its prefix (`Id` for `sf:Id`).
    pub fn local_name(&self) -> &str {
        local(&self.name)
    }

    /// The first child named `local` (ignoring prefixes).
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local_name() == local)
    }

    /// The trimmed text of the first child named `local`, when not empty.
    pub fn child_text(&self, local: &str) -> Option<&str> {
        self.child(local).map(|c| c.text.trim()).filter(|t| !t.is_empty())
    }

    /// An attribute's value by local name (`type` finds `xsi:type`).
    pub fn attribute(&self, local_name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| local(n) == local_name).map(|(_, v)| v.as_str())
    }
}

/// A qualified name's local part.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Parses a whole document into its root element.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    if body.len() > MAX_BYTES {
        return Err(XmlError::TooLarge);
    }
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| XmlError::Malformed)?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(_) | Event::Empty(_) if stack.len() >= MAX_DEPTH => {
                return Err(XmlError::TooLarge);
            }
            Event::Start(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS || (root.is_some() && stack.is_empty()) {
                    return Err(too_many_or_second_root(elements));
                }
                stack.push(open(&start)?);
            }
            Event::Empty(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS || (root.is_some() && stack.is_empty()) {
                    return Err(too_many_or_second_root(elements));
                }
                let element = open(&start)?;
                close(element, &mut stack, &mut root);
            }
            Event::End(_) => {
                let element = stack.pop().ok_or(XmlError::Malformed)?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(text) => {
                let text = text.xml10_content().map_err(|_| XmlError::Malformed)?;
                append(&mut stack, &text)?;
            }
            Event::CData(data) => {
                let text = data.xml10_content().map_err(|_| XmlError::Malformed)?;
                append(&mut stack, &text)?;
            }
            Event::GeneralRef(reference) => {
                let c = resolve(&reference)?;
                append(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    match (root, stack.is_empty()) {
        (Some(root), true) => Ok(root),
        _ => Err(XmlError::Malformed),
    }
}

/// The error for one element too many: the limit, or a second root element.
fn too_many_or_second_root(elements: usize) -> XmlError {
    if elements > MAX_ELEMENTS {
        XmlError::TooLarge
    } else {
        XmlError::Malformed
    }
}

/// A new element from its start tag.
fn open(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let qualified = start.name();
    let name = std::str::from_utf8(qualified.as_ref()).map_err(|_| XmlError::Malformed)?;
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|_| XmlError::Malformed)?;
        let key = std::str::from_utf8(attribute.key.as_ref()).map_err(|_| XmlError::Malformed)?;
        // Only the predefined entities and character references resolve; others are errors.
        let value =
            attribute.normalized_value(XmlVersion::Implicit1_0).map_err(|_| XmlError::Entity)?;
        attributes.push((key.to_owned(), value.into_owned()));
    }
    Ok(Element { name: name.to_owned(), attributes, ..Element::default() })
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Adds text to the open element; outside the root only whitespace is allowed.
fn append(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed),
    }
}

/// A character reference or one of the five predefined entities; nothing else.
fn resolve(reference: &BytesRef<'_>) -> Result<char, XmlError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(XmlError::Malformed),
        };
    }
    match reference.as_ref() {
        b"lt" => Ok('<'),
        b"gt" => Ok('>'),
        b"amp" => Ok('&'),
        b"apos" => Ok('\''),
        b"quot" => Ok('"'),
        _ => Err(XmlError::Entity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_document_becomes_a_tree() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment -->
            <a:root xmlns:a="urn:x" k="v &amp; w"><b>one &lt;2&gt; &#65;&#x42;</b><c/>
            <d><![CDATA[<raw>]]></d></a:root>"#;
        let root = parse(doc).unwrap();
        assert_eq!((root.name.as_str(), root.local_name()), ("a:root", "root"));
        assert_eq!(root.attribute("k"), Some("v & w"));
        assert_eq!(root.child_text("b"), Some("one <2> AB"));
        assert!(root.child("c").is_some());
        assert_eq!(root.child_text("d"), Some("<raw>"));
    }

    #[test]
    fn doctypes_and_entities_are_refused() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert_eq!(parse(xxe), Err(XmlError::Doctype));
        let laughs = br#"<?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
            <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"#;
        assert_eq!(parse(laughs), Err(XmlError::Doctype));
        // Without a DOCTYPE, an entity reference is simply unknown.
        assert_eq!(parse(b"<r>&x;</r>"), Err(XmlError::Entity));
        assert_eq!(parse(br#"<r a="&x;"/>"#), Err(XmlError::Entity));
        assert_eq!(parse(b"<r>&#0;</r>"), Err(XmlError::Malformed));
    }

    #[test]
    fn depth_size_and_well_formedness_are_bounded() {
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 1), "</a>".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooLarge));
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        let very_deep = "<a>".repeat(300_000);
        assert_eq!(parse(very_deep.as_bytes()), Err(XmlError::TooLarge));
        let wide = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
        assert_eq!(parse(wide.as_bytes()), Err(XmlError::TooLarge));
        for bad in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"</a>",
            b"<a/><b/>",
            b"text",
            b"<a>&</a>",
            b"<a b=1/>",
            b"<a b='1' b='2'/>",
            b"<a>\xff</a>",
            b"<a><!-- x",
            b"<a x='&#xD800;'/>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn any_bytes_are_parsed_or_refused(body in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&body);
        }

        #[test]
        fn xml_like_text_is_parsed_or_refused(
            parts in prop::collection::vec(
                prop::sample::select(vec!["<a>", "</a>", "<b x='1'>", "</b>", "<c/>", "&amp;",
                    "&x;", "&#65;", "<!DOCTYPE a>", "<![CDATA[x]]>", "<?pi?>", "<!--c-->", "t",
                    " ", "<", ">", "&", "'", "\""]),
                0..30,
            ),
        ) {
            let _ = parse(parts.concat().as_bytes());
        }
    }
}
