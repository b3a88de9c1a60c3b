module github.com/sightline/sightline

go 1.26.8
