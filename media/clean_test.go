package media_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"tinbao/media"
	"tinbao/media/mediatest"
)

// The helper's photo really carries what a phone writes: without this the
// test below would prove nothing.
func TestFixtureCarriesExifGPSAndComment(t *testing.T) {
	orig := mediatest.JPEG(40, 20, 6)
	for _, want := range [][]byte{{0xFF, 0xE1}, []byte("Exif\x00\x00"), mediatest.GPSBytes(), []byte(mediatest.Comment)} {
		if !bytes.Contains(orig, want) {
			t.Errorf("fixture lacks %q", want)
		}
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(orig)); err != nil || cfg.Width != 40 || cfg.Height != 20 {
		t.Fatalf("fixture: %+v, %v", cfg, err)
	}
}

// A photo taken on a phone held upright is stored sideways with an EXIF
// orientation: the cleaned copy is turned upright, and nothing but pixels
// is left of it: no APP1 (EXIF, XMP), no "Exif", no GPS, no comment.
func TestCleanDropsMetadataAndTurnsUpright(t *testing.T) {
	r := media.Process(mediatest.JPEG(40, 20, 6))
	if r.ContentType != "image/jpeg" || r.CleanType != "image/jpeg" || r.NoPreview != "" || r.Clean == nil {
		t.Fatalf("result = %+v", r)
	}
	assertNoMetadata(t, r.Clean)
	img, err := jpeg.Decode(bytes.NewReader(r.Clean))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 20 || b.Dy() != 40 || r.Width != 20 || r.Height != 40 {
		t.Fatalf("cleaned copy is %v (result %dx%d), want 20x40 upright", b, r.Width, r.Height)
	}
	// Orientation 6 turns the picture 90° clockwise: its left half (red)
	// is now on top, its right half (blue) below.
	if top, bottom := img.At(10, 5), img.At(10, 35); !reddish(top) || reddish(bottom) {
		t.Errorf("top %v, bottom %v: want red above blue", top, bottom)
	}
}

func TestCleanPNG(t *testing.T) {
	r := media.Process(mediatest.PNG(30, 10))
	if r.ContentType != "image/png" || r.Clean == nil || r.Width != 30 || r.Height != 10 {
		t.Fatalf("result = %+v", r)
	}
	if _, err := png.Decode(bytes.NewReader(r.Clean)); err != nil {
		t.Fatal(err)
	}
}

// A small file that claims a huge canvas is never decoded; one that says
// it is a JPEG and is not one has no preview either; other image formats
// and documents are kept as they are, with no cleaned copy.
func TestNoPreview(t *testing.T) {
	bomb := mediatest.PNG(8, 8)
	binary.BigEndian.PutUint32(bomb[16:], 100_000) // IHDR width
	binary.BigEndian.PutUint32(bomb[20:], 100_000) // and height: 10 gigapixels
	binary.BigEndian.PutUint32(bomb[29:], crc32.ChecksumIEEE(bomb[12:29]))
	broken := append([]byte{0xFF, 0xD8, 0xFF, 0xDB}, bytes.Repeat([]byte{0}, 64)...)
	heic := append([]byte{0, 0, 0, 24}, []byte("ftypheic\x00\x00\x00\x00mif1heic")...)
	for _, tc := range []struct {
		name, ct, why string
		data          []byte
	}{
		{"decompression bomb", "image/png", media.NoPreviewPixels, bomb},
		{"not really a JPEG", "image/jpeg", media.NoPreviewUndecodable, broken},
		{"HEIC", "image/heic", media.NoPreviewFormat, heic},
		{"GIF", "image/gif", media.NoPreviewFormat, []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")},
		{"PDF", "application/pdf", "", []byte("%PDF-1.7\n%âãÏÓ\n1 0 obj <<>> endobj\n")},
	} {
		r := media.Process(tc.data)
		if r.ContentType != tc.ct || r.NoPreview != tc.why || r.Clean != nil {
			t.Errorf("%s: %+v, want %s / %q and no cleaned copy", tc.name, r, tc.ct, tc.why)
		}
	}
}

func assertNoMetadata(t *testing.T, clean []byte) {
	t.Helper()
	for name, b := range map[string][]byte{"APP1 marker": {0xFF, 0xE1}, "Exif": []byte("Exif"),
		"GPS latitude": mediatest.GPSBytes(), "comment": []byte(mediatest.Comment), "COM marker": {0xFF, 0xFE}} {
		if bytes.Contains(clean, b) {
			t.Errorf("cleaned copy still holds the %s", name)
		}
	}
}

func reddish(c color.Color) bool {
	r, _, b, _ := c.RGBA()
	return r > 2*b
}
