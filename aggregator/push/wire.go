package push

import "github.com/kubedag/kubedag/userid"

// The User-ID wire types, as the userid client defines them.
type (
	Tag          = userid.Tag
	Entry        = userid.Entry
	Update       = userid.Update
	EntryError   = userid.EntryError
	UpdateResult = userid.UpdateResult
	RegisteredIP = userid.RegisteredIP
)

var _ Firewall = (*userid.Client)(nil)
