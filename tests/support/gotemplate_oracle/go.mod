module gotemplate_oracle

go 1.22
