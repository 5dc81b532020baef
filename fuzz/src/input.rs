//! A cursor over the fuzzer's bytes that never fails: past the end it
//! reads zeros and empty slices, so every input means something.

/// The unread part of the input.
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, 0 past the end.
    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, big-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// An IPv4 address as its four octets, returned in lwIP byte order
    /// (network order in memory, as the C ABI takes addresses).
    pub fn lwip_addr(&mut self) -> u32 {
        u32::from_ne_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next `n` bytes, or fewer at the end.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// A length byte, then that many bytes.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.bytes(n)
    }

    /// A length (two bytes, big-endian), then that many bytes.
    pub fn long_bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }

    /// A NUL-terminated C string: a length byte, then that many bytes, cut
    /// at the first NUL. Length 255 means 300 bytes (the first byte
    /// repeated), longer than any string limit of the C ABI.
    pub fn c_string(&mut self) -> Vec<u8> {
        let n = self.u8();
        let mut s: Vec<u8> = if n == 255 {
            let b = self.u8().max(b'a');
            vec![b; 300]
        } else {
            self.bytes(usize::from(n))
                .iter()
                .copied()
                .take_while(|&c| c != 0)
                .collect()
        };
        s.push(0);
        s
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }
}
