import Testing
@testable import Imaging

@Test func imageSubscriptAddressesInterleavedSamples() {
    var image = Image(width: 2, height: 2, channels: 3)
    image[1, 0, 2] = 7
    #expect(image.pixels[(1 * 2 + 0) * 3 + 2] == 7)
}
