import Testing
@testable import PixelRNN

@Suite("RandomSource")
struct RandomTests {
    @Test func sameSeedGivesSameSequence() {
        var a = RandomSource(seed: 1234)
        var b = RandomSource(seed: 1234)
        for _ in 0..<1000 { #expect(a.next() == b.next()) }
        var c = RandomSource(seed: 1235)
        var a2 = RandomSource(seed: 1234)
        let same = (0..<64).filter { _ in a2.next() == c.next() }.count
        #expect(same == 0)
    }

    /// Pins the algorithm: the first outputs for seed 0 must never change, or every
    /// seeded training run and completion changes with them.
    @Test func outputIsPinned() {
        var random = RandomSource(seed: 0)
        let first = (0..<3).map { _ in random.next() }
        var again = RandomSource(seed: 0, stream: 0)
        #expect(first == (0..<3).map { _ in again.next() })
        #expect(first == RandomTests.pinnedSeedZero)
    }

    static let pinnedSeedZero: [UInt64] = [13_727_830_953_797_744_751, 13_828_730_535_815_455_936, 12_327_971_502_963_353_553]

    @Test func splitMixMatchesReference() {
        // The reference SplitMix64 (Vigna) from state 0 starts 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4.
        var state: UInt64 = 0
        #expect(RandomSource.splitMix(&state) == 0xE220_A839_7B1D_CDAF)
        #expect(RandomSource.splitMix(&state) == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test func xoshiroMatchesReferenceStep() {
        // Reference xoshiro256** with state (1, 2, 3, 4): first output is
        // rotl(2 * 5, 7) * 9 = 11520, second is 0, third 1509978240.
        var random = RandomSource(seed: 0)
        random.s0 = 1
        random.s1 = 2
        random.s2 = 3
        random.s3 = 4
        #expect(random.next() == 11520)
        #expect(random.next() == 0)
        #expect(random.next() == 1_509_978_240)
    }

    @Test func streamsAreReproducibleAndDistinct() {
        var streams = (0..<8).map { RandomSource(seed: 99, stream: UInt64($0)) }
        let firsts = streams.indices.map { streams[$0].next() }
        #expect(Set(firsts).count == 8)
        var again = RandomSource(seed: 99, stream: 5)
        #expect(again.next() == firsts[5])
        var plain = RandomSource(seed: 99)
        #expect(plain.next() == firsts[0])
    }

    @Test func uniformFloatMoments() {
        var random = RandomSource(seed: 7)
        let n = 200_000
        var sum = 0.0, sumSquares = 0.0
        var low: Float = 1, high: Float = 0
        for _ in 0..<n {
            let u = random.nextFloat()
            sum += Double(u)
            sumSquares += Double(u) * Double(u)
            low = min(low, u)
            high = max(high, u)
        }
        let mean = sum / Double(n)
        let variance = sumSquares / Double(n) - mean * mean
        #expect(low >= 0 && high < 1)
        #expect(abs(mean - 0.5) < 0.005)
        #expect(abs(variance - 1.0 / 12) < 0.002)
    }

    @Test func normalMoments() {
        var random = RandomSource(seed: 11)
        let n = 200_000
        var m1 = 0.0, m2 = 0.0, m3 = 0.0, m4 = 0.0
        for _ in 0..<n {
            let z = Double(random.nextNormal())
            #expect(z.isFinite)
            m1 += z
            m2 += z * z
            m3 += z * z * z
            m4 += z * z * z * z
        }
        m1 /= Double(n); m2 /= Double(n); m3 /= Double(n); m4 /= Double(n)
        #expect(abs(m1) < 0.01)
        #expect(abs(m2 - 1) < 0.02)
        #expect(abs(m3) < 0.05)
        #expect(abs(m4 - 3) < 0.1)
    }

    @Test func boundedIntegersAreUniform() {
        var random = RandomSource(seed: 3)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[random.nextInt(below: 7)] += 1 }
        for count in counts { #expect(abs(count - 10_000) < 400) }
    }

    @Test func shuffleIsAPermutationAndReproducible() {
        var a = RandomSource(seed: 5)
        var b = RandomSource(seed: 5)
        var x = Array(0..<100)
        var y = Array(0..<100)
        a.shuffle(&x)
        b.shuffle(&y)
        #expect(x == y)
        #expect(x.sorted() == Array(0..<100))
        #expect(x != Array(0..<100))
        // Every position receives every value about equally often.
        var random = RandomSource(seed: 6)
        var firstCounts = [Int](repeating: 0, count: 4)
        for _ in 0..<40_000 { firstCounts[random.permutation(4)[0]] += 1 }
        for count in firstCounts { #expect(abs(count - 10_000) < 400) }
    }
}
