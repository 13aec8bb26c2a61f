// Package mediatest makes the images the media tests need, in the test
// itself: no real photo is ever committed. A JPEG carries an EXIF block
// with an orientation and a GPS position, and a comment, the way a phone
// camera writes them.
package mediatest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// Where the test photos claim to have been taken: Bavet, Cambodia, as
// degrees, minutes and seconds.
var (
	Latitude  = [3]uint32{11, 3, 54}
	Longitude = [3]uint32{106, 9, 47}
)

// Comment is written into the JPEG's COM segment.
const Comment = "tinbao-test-comment: taken by the reporter's phone"

// GPSBytes is how the latitude sits in the EXIF block (big-endian
// rationals): absent from a cleaned copy, present in the original.
func GPSBytes() []byte {
	var b bytes.Buffer
	for _, v := range Latitude {
		binary.Write(&b, binary.BigEndian, [2]uint32{v, 1})
	}
	return b.Bytes()
}

// Picture is w×h, its left half red and its right half blue, so that a
// test can tell which way up it is.
func Picture(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{R: 220, A: 255}
			if x >= w/2 {
				c = color.RGBA{B: 220, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

// JPEG encodes Picture(w, h) and inserts, after the start marker, an APP1
// Exif segment with the given orientation (1 upright, 6 turned: shown
// rotated 90° clockwise) and the GPS position, and a comment.
func JPEG(w, h int, orientation uint16) []byte {
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, Picture(w, h), &jpeg.Options{Quality: 95}); err != nil {
		panic(err)
	}
	raw := enc.Bytes()
	var out bytes.Buffer
	out.Write(raw[:2]) // SOI
	out.Write(segment(0xE1, append([]byte("Exif\x00\x00"), exif(orientation)...)))
	out.Write(segment(0xFE, []byte(Comment)))
	out.Write(raw[2:])
	return out.Bytes()
}

// PNG encodes Picture(w, h).
func PNG(w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, Picture(w, h)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func segment(marker byte, payload []byte) []byte {
	b := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(payload)+2))
	return append(b, payload...)
}

// exif is a big-endian TIFF block: IFD0 with Orientation and a pointer to
// the GPS IFD, which holds latitude and longitude with their references.
func exif(orientation uint16) []byte {
	const (
		ifd0At   = 8
		ifd0Len  = 2 + 2*12 + 4
		gpsAt    = ifd0At + ifd0Len
		gpsLen   = 2 + 4*12 + 4
		latAt    = gpsAt + gpsLen
		lonAt    = latAt + 24
		tShort   = 3
		tLong    = 4
		tASCII   = 2
		tRatio   = 5
		tagOrien = 0x0112
		tagGPS   = 0x8825
	)
	var b bytes.Buffer
	be := binary.BigEndian
	b.WriteString("MM")
	binary.Write(&b, be, uint16(42))
	binary.Write(&b, be, uint32(ifd0At))
	entry := func(tag, typ uint16, count uint32, value []byte) {
		binary.Write(&b, be, tag)
		binary.Write(&b, be, typ)
		binary.Write(&b, be, count)
		v := make([]byte, 4)
		copy(v, value)
		b.Write(v)
	}
	u32 := func(v uint32) []byte { x := make([]byte, 4); be.PutUint32(x, v); return x }
	u16 := func(v uint16) []byte { x := make([]byte, 2); be.PutUint16(x, v); return x }
	binary.Write(&b, be, uint16(2))
	entry(tagOrien, tShort, 1, u16(orientation))
	entry(tagGPS, tLong, 1, u32(gpsAt))
	binary.Write(&b, be, uint32(0))
	binary.Write(&b, be, uint16(4))
	entry(1, tASCII, 2, []byte("N\x00"))
	entry(2, tRatio, 3, u32(latAt))
	entry(3, tASCII, 2, []byte("E\x00"))
	entry(4, tRatio, 3, u32(lonAt))
	binary.Write(&b, be, uint32(0))
	for _, v := range Latitude {
		binary.Write(&b, be, [2]uint32{v, 1})
	}
	for _, v := range Longitude {
		binary.Write(&b, be, [2]uint32{v, 1})
	}
	return b.Bytes()
}
