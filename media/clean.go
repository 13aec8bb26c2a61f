// Package media makes what reporters send safe to show: a photo is decoded
// and encoded again, which leaves behind everything but the pixels (EXIF
// with its GPS position and camera serial, XMP, ICC profiles, comments),
// after turning it upright as its EXIF orientation said. Everything else
// (documents, videos, images we cannot clean) is only ever kept as the
// sealed original. The Fetcher brings Telegram's files in, in the
// background, after the report is committed.
package media

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"

	"github.com/disintegration/imaging"

	"tinbao/flows"
)

// MaxBytes caps one file, sent or fetched: 10 MiB, half of what a Telegram
// bot may download (20 MB), plenty for a phone photo or a screenshot, and
// small enough that a report's files sit in Postgres beside it.
const MaxBytes = flows.MaxMediaBytes

// MaxPixels caps what is decoded (40 megapixels, more than any phone
// camera): a small file can claim a huge canvas (a decompression bomb), so
// the size is read from the header before anything is decoded.
const MaxPixels = 40_000_000

// jpegQuality is the re-encoded copy's: near the original to the eye.
const jpegQuality = 90

// Why a photo has no cleaned copy.
const (
	NoPreviewFormat      = "format"      // WebP, HEIC, GIF…: kept, not decoded
	NoPreviewPixels      = "pixels"      // over MaxPixels
	NoPreviewUndecodable = "undecodable" // says it is a JPEG or PNG, is not one
)

// Result is what Process made of a file.
type Result struct {
	ContentType string // of the original, sniffed from its bytes (never the sender's word)
	Clean       []byte // the cleaned copy; nil when there is none
	CleanType   string // image/jpeg or image/png
	Width       int    // of the cleaned copy, upright
	Height      int
	// NoPreview says why an image has no cleaned copy; empty for a
	// cleaned image and for what is not an image.
	NoPreview string
}

// IsImage reports whether a sniffed content type is a picture of any kind.
func IsImage(contentType string) bool { return len(contentType) > 6 && contentType[:6] == "image/" }

// Cleanable reports whether Process makes a cleaned copy of this type.
func Cleanable(contentType string) bool {
	return contentType == "image/jpeg" || contentType == "image/png"
}

// Sniff names a file's type from its first bytes. HEIC, which
// http.DetectContentType does not know, is what iPhones take photos in.
func Sniff(data []byte) string {
	if len(data) >= 12 && string(data[4:8]) == "ftyp" {
		switch string(data[8:12]) {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "image/heic"
		}
	}
	return http.DetectContentType(data)
}

// slots bounds how many images are decoded at once: a 40-megapixel photo
// takes 160 MB as pixels, and the machine has other work.
var slots = make(chan struct{}, 2)

// Process sniffs a file and, for a JPEG or PNG within MaxPixels, makes the
// cleaned copy. It never fails: what cannot be cleaned is said in the
// Result, and the original is kept all the same.
func Process(data []byte) Result {
	r := Result{ContentType: Sniff(data)}
	switch {
	case !IsImage(r.ContentType):
		return r
	case !Cleanable(r.ContentType):
		r.NoPreview = NoPreviewFormat
		return r
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err != nil:
		r.NoPreview = NoPreviewUndecodable
		return r
	case cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels:
		r.NoPreview = NoPreviewPixels
		return r
	}
	slots <- struct{}{}
	defer func() { <-slots }()
	clean, err := reencode(data, r.ContentType)
	if err != nil {
		r.NoPreview = NoPreviewUndecodable
		return r
	}
	r.Clean, r.CleanType = clean.data, r.ContentType
	r.Width, r.Height = clean.w, clean.h
	return r
}

type cleaned struct {
	data []byte
	w, h int
}

// reencode decodes the pixels, turned upright by the EXIF orientation, and
// encodes them afresh in the same format. The encoders write pixels only:
// no EXIF, XMP, ICC profile, comment or text chunk survives.
func reencode(data []byte, contentType string) (cleaned, error) {
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return cleaned{}, err
	}
	var buf bytes.Buffer
	switch contentType {
	case "image/jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality})
	case "image/png":
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	default:
		err = errors.New("media: not a cleanable type")
	}
	if err != nil {
		return cleaned{}, err
	}
	b := img.Bounds()
	return cleaned{data: buf.Bytes(), w: b.Dx(), h: b.Dy()}, nil
}
