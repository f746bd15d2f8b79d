/// Shamir's secret sharing over GF(256) (the AES field, reduction polynomial x^8+x^4+x^3+x+1),
/// byte by byte: a random polynomial of degree `threshold - 1` per secret byte, whose constant
/// term is that byte, evaluated at x = 1...shares. Any `threshold` shares give the secret back by
/// Lagrange interpolation at x = 0; fewer reveal nothing about it. See FORMAT.md, "Recovery shares".
public enum Shamir {
    public struct Share: Sendable, Equatable {
        /// The x coordinate, 1...255.
        public var x: UInt8
        /// The polynomials' values at x, one per secret byte.
        public var y: [UInt8]

        public init(x: UInt8, y: [UInt8]) {
            self.x = x
            self.y = y
        }
    }

    public static func split(_ secret: SecretKey, shares: Int, threshold: Int) throws -> [Share] {
        guard (2...255).contains(threshold), (threshold...255).contains(shares) else {
            throw PlanVaultError.invalidArgument("shares and threshold must satisfy 2 <= threshold <= shares <= 255 (got \(shares) shares, threshold \(threshold))")
        }
        var coefficients = try LibCrypto.randomBytes(secret.count * (threshold - 1))
        defer { LibCrypto.wipe(&coefficients) }
        return secret.withUnsafeBytes { bytes in
            (1...shares).map { index in
                let x = UInt8(index)
                var y = [UInt8](repeating: 0, count: bytes.count)
                for i in 0..<bytes.count {
                    // Horner's rule, highest coefficient first.
                    var value: UInt8 = 0
                    for degree in stride(from: threshold - 1, through: 1, by: -1) {
                        value = GF256.multiply(value, x) ^ coefficients[i * (threshold - 1) + degree - 1]
                    }
                    y[i] = GF256.multiply(value, x) ^ bytes[i]
                }
                return Share(x: x, y: y)
            }
        }
    }

    /// The secret from `shares` (exactly the threshold's worth or more; all must have distinct
    /// x and equal lengths). With fewer than the threshold the result is a wrong secret, which the
    /// caller detects because it does not open anything.
    public static func combine(_ shares: [Share]) throws -> SecretKey {
        guard let length = shares.first?.y.count, shares.count >= 2 else {
            throw PlanVaultError.invalidArgument("at least two recovery shares are needed")
        }
        guard shares.allSatisfy({ $0.y.count == length && $0.x != 0 }), Set(shares.map(\.x)).count == shares.count else {
            throw PlanVaultError.invalidArgument("the recovery shares do not belong together (a share was given twice, or they differ in length)")
        }
        var secret = [UInt8](repeating: 0, count: length)
        defer { LibCrypto.wipe(&secret) }
        for (j, share) in shares.enumerated() {
            // Lagrange basis polynomial j at 0: product over m != j of x_m / (x_m - x_j); minus is xor.
            var basis: UInt8 = 1
            for (m, other) in shares.enumerated() where m != j {
                basis = GF256.multiply(basis, GF256.divide(other.x, other.x ^ share.x))
            }
            for i in 0..<length { secret[i] ^= GF256.multiply(share.y[i], basis) }
        }
        return SecretKey(bytes: secret)
    }
}

/// Arithmetic in GF(2^8) modulo x^8+x^4+x^3+x+1, without tables or data-dependent branches.
enum GF256 {
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a, b = b, product: UInt8 = 0
        for _ in 0..<8 {
            product ^= a & (0 &- (b & 1))
            let carry = 0 &- (a >> 7)
            a = (a << 1) ^ (0x1B & carry)
            b >>= 1
        }
        return product
    }

    /// a^254 = a^-1 for a != 0 (the multiplicative group has order 255).
    static func inverse(_ a: UInt8) -> UInt8 {
        var result: UInt8 = 1
        var base = a
        var exponent = 254
        while exponent > 0 {
            if exponent & 1 == 1 { result = multiply(result, base) }
            base = multiply(base, base)
            exponent >>= 1
        }
        return result
    }

    static func divide(_ a: UInt8, _ b: UInt8) -> UInt8 { multiply(a, inverse(b)) }
}
