//! TEMPORARY STUB (replaced by the real module).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError { #[error("must be in E.164 format")] NotInternational }
impl Phone {
    pub fn parse(raw: &str) -> Result<Phone, PhoneError> {
        let s: String = raw.trim().chars().filter(|c| !" -.()".contains(*c)).collect();
        if s.starts_with('+') && s.len() > 8 && s[1..].bytes().all(|b| b.is_ascii_digit()) { Ok(Phone(s)) } else { Err(PhoneError::NotInternational) }
    }
    pub fn as_str(&self) -> &str { &self.0 }
}
impl std::fmt::Display for Phone { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) } }
