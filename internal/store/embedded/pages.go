package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// checkRoot refuses, for Check, what Open refuses from the buckets at the
// root of the file and the schema version (see storeRoot.refusal): another
// program's bbolt file, or another version's store. It reads the pages
// itself, as bbolt lays them out: bbolt's own read would take the file's
// lock, and wait for a running bot's.
//
// A running bot may write over those pages as they are read: bbolt
// writes a changed page elsewhere, but writes again over the pages it
// freed once its own readers are done, and this one is not one of them.
// A read counts only when the newest meta page is the same after it as
// before; else it is read again, rootTries times at most, then the file
// is left to Open, as one whose pages make no sense is: Open walks them
// all.
func checkRoot(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	for range rootTries {
		m, ok := boltMeta(f)
		if !ok {
			return nil // checkLength judges it
		}
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return &notFileError{path: path, mode: info.Mode()}
		}
		r, err := readRoot(pageFile{f: f, size: info.Size(), pageSize: m.pageSize}, m.root)
		if after, ok := boltMeta(f); !ok || after.txid != m.txid {
			continue
		}
		if err != nil {
			return nil
		}
		return r.refusal(path, false)
	}
	return nil
}

// rootTries is how many times checkRoot reads a file being written.
const rootTries = 5

// errBadPage is what pageFile says of a page that is not what the tree
// leads to: written over since, or damaged.
var errBadPage = errors.New("not a page of the tree")

// bbolt's page layout (its internal/common), in the machine's byte order:
// a 16-byte header (id, flags, count of elements, count of overflow
// pages), then count elements of 16 bytes each, whose keys and values
// are found at pos from the element's own start.
const (
	pageHeader      = 16
	pageElement     = 16
	branchPage      = 0x01
	leafPage        = 0x02
	bucketLeaf      = 0x01 // a leaf element's flag: its value is a bucket
	bucketHeader    = 16   // a bucket's value: root page id, sequence
	maxTreeDepth    = 32
	maxPageRunBytes = 64 << 20
)

// pageFile reads the pages of a bbolt file.
type pageFile struct {
	f        *os.File
	size     int64
	pageSize int64
}

// page returns page id and its overflow pages, or errBadPage for one that
// lies past the end of the file or does not carry its own id.
func (p pageFile) page(id uint64) ([]byte, error) {
	if p.pageSize <= 0 || id >= uint64(p.size/p.pageSize) {
		return nil, errBadPage
	}
	off := int64(id) * p.pageSize
	b := make([]byte, p.pageSize)
	if _, err := p.f.ReadAt(b, off); err != nil {
		return nil, err
	}
	e := binary.NativeEndian
	if e.Uint64(b) != id {
		return nil, errBadPage
	}
	if over := int64(e.Uint32(b[12:])); over > 0 {
		n := (over + 1) * p.pageSize
		if n > maxPageRunBytes || n > p.size-off {
			return nil, errBadPage
		}
		b = make([]byte, n)
		if _, err := p.f.ReadAt(b, off); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// elem is one element of a branch or leaf page.
type elem struct {
	flags uint32 // a leaf's
	child uint64 // a branch's
	key   []byte
	value []byte // a leaf's
}

// elems returns the elements of page pg, or errBadPage when they do not
// lie within it.
func elems(pg []byte) (flags uint16, out []elem, err error) {
	if len(pg) < pageHeader {
		return 0, nil, errBadPage
	}
	e := binary.NativeEndian
	flags, count := e.Uint16(pg[8:]), int(e.Uint16(pg[10:]))
	if pageHeader+count*pageElement > len(pg) {
		return 0, nil, errBadPage
	}
	for i := range count {
		at := pageHeader + i*pageElement
		el := pg[at : at+pageElement]
		var x elem
		var pos, ksize, vsize uint64
		switch flags {
		case branchPage:
			pos, ksize, x.child = uint64(e.Uint32(el)), uint64(e.Uint32(el[4:])), e.Uint64(el[8:])
		case leafPage:
			x.flags, pos, ksize, vsize = e.Uint32(el), uint64(e.Uint32(el[4:])), uint64(e.Uint32(el[8:])), uint64(e.Uint32(el[12:]))
		default:
			return 0, nil, errBadPage
		}
		start := uint64(at) + pos
		if start+ksize+vsize > uint64(len(pg)) {
			return 0, nil, errBadPage
		}
		x.key = pg[start : start+ksize]
		x.value = pg[start+ksize : start+ksize+vsize]
		out = append(out, x)
	}
	return flags, out, nil
}

// find returns the leaf element of key in the tree whose root is page
// root, or, when inline is not nil, the page inline (a small bucket's,
// kept in its value); first, when key is nil: the first element.
func (p pageFile) find(root uint64, inline []byte, key []byte) (elem, bool, error) {
	pg := inline
	for range maxTreeDepth {
		if pg == nil {
			var err error
			if pg, err = p.page(root); err != nil {
				return elem{}, false, err
			}
		}
		flags, es, err := elems(pg)
		if err != nil {
			return elem{}, false, err
		}
		if flags == leafPage {
			for _, x := range es {
				if key == nil || bytes.Equal(x.key, key) {
					return x, true, nil
				}
			}
			return elem{}, false, nil
		}
		if len(es) == 0 {
			return elem{}, false, errBadPage
		}
		// The last child whose first key is not past key, as bbolt's
		// cursor seeks.
		root = es[0].child
		for _, x := range es[1:] {
			if key == nil || bytes.Compare(x.key, key) > 0 {
				break
			}
			root = x.child
		}
		pg = nil
	}
	return elem{}, false, errBadPage
}

// readRoot returns what the root bucket, whose page is root, holds.
func readRoot(p pageFile, root uint64) (storeRoot, error) {
	var r storeRoot
	first, ok, err := p.find(root, nil, nil)
	if err != nil || !ok {
		return r, err
	}
	r.first = first.key
	meta, ok, err := p.find(root, nil, bucketMeta)
	if err != nil || !ok || meta.flags&bucketLeaf == 0 {
		return r, err
	}
	r.meta = true
	if len(meta.value) < bucketHeader {
		return r, errBadPage
	}
	var inline []byte
	metaRoot := binary.NativeEndian.Uint64(meta.value)
	if metaRoot == 0 {
		inline = meta.value[bucketHeader:]
	}
	schema, ok, err := p.find(metaRoot, inline, keySchema)
	if err != nil || !ok || schema.flags&bucketLeaf != 0 {
		return r, err
	}
	r.schema = schema.value
	return r, nil
}
